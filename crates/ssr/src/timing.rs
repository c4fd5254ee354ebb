//! `Server-Timing`: one entry per auth phase and per SSR query, so the browser's Network tab
//! shows where a page's time went.

use std::time::{Duration, Instant};

/// Collected timing entries of one request.
#[derive(Debug, Default, Clone)]
pub struct ServerTiming {
    entries: Vec<(String, Duration, Option<String>)>,
}

fn token(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl ServerTiming {
    /// Records an entry.
    pub fn add(&mut self, name: &str, duration: Duration, description: Option<&str>) {
        self.entries.push((
            token(name),
            duration,
            description.map(|d| d.replace(['"', '\\'], "")),
        ));
    }

    /// Appends another collection's entries.
    pub fn merge(&mut self, other: ServerTiming) {
        self.entries.extend(other.entries);
    }

    /// Times a future.
    pub async fn time<T>(
        &mut self,
        name: &str,
        description: Option<&str>,
        fut: impl std::future::Future<Output = T>,
    ) -> T {
        let start = Instant::now();
        let out = fut.await;
        self.add(name, start.elapsed(), description);
        out
    }

    /// The header value: `name;dur=1.23;desc="..."`, comma-separated.
    pub fn header_value(&self) -> String {
        self.entries
            .iter()
            .map(|(n, d, desc)| {
                let mut s = format!("{n};dur={:.2}", d.as_secs_f64() * 1000.0);
                if let Some(desc) = desc {
                    s.push_str(&format!(";desc=\"{desc}\""));
                }
                s
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
