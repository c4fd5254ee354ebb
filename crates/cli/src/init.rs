//! `ferrovex init <dir>`: scaffold a new app crate outside this workspace, offline, from the
//! templates embedded in the binary (`crates/cli/templates/`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

/// Flags of `ferrovex init`.
#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Folder to create the app in (must not exist, or be empty).
    pub dir: PathBuf,
    /// The Ferrovex checkout the app depends on by path (default: the checkout this binary
    /// was built from). The crates are not published.
    #[arg(long, env = "FERROVEX_PATH")]
    pub ferrovex_path: Option<PathBuf>,
    /// Also write a frontend: `vite` is a minimal TypeScript page using the official `convex`
    /// client and the generated `api`.
    #[arg(long, value_parser = ["vite"])]
    pub frontend: Option<String>,
    /// The crate's name (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
}

/// One embedded template file: where it goes and what it holds.
struct Template {
    path: &'static str,
    content: &'static str,
}

const APP: &[Template] = &[
    Template {
        path: "Cargo.toml",
        content: include_str!("../templates/app/Cargo.toml.tmpl"),
    },
    Template {
        path: "src/main.rs",
        content: include_str!("../templates/app/src/main.rs"),
    },
    Template {
        path: "src/lib.rs",
        content: include_str!("../templates/app/src/lib.rs"),
    },
    Template {
        path: "src/tasks.rs",
        content: include_str!("../templates/app/src/tasks.rs"),
    },
    Template {
        path: "tests/tasks.rs",
        content: include_str!("../templates/app/tests/tasks.rs"),
    },
    Template {
        path: ".gitignore",
        content: include_str!("../templates/app/gitignore"),
    },
    Template {
        path: "README.md",
        content: include_str!("../templates/app/README.md"),
    },
];

const VITE: &[Template] = &[
    Template {
        path: "web/package.json",
        content: include_str!("../templates/vite/package.json"),
    },
    Template {
        path: "web/tsconfig.json",
        content: include_str!("../templates/vite/tsconfig.json"),
    },
    Template {
        path: "web/index.html",
        content: include_str!("../templates/vite/index.html"),
    },
    Template {
        path: "web/src/main.ts",
        content: include_str!("../templates/vite/src/main.ts"),
    },
];

/// The checkout this binary was built from, if it is still there.
pub(crate) fn own_checkout() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().ok()?;
    root.join("crates/ferrovex/Cargo.toml")
        .is_file()
        .then_some(root)
}

/// A crate name from a folder name: lowercase letters, digits, `-` and `_`.
fn crate_name(raw: &str) -> anyhow::Result<String> {
    let name: String = raw
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    let name = name.trim_matches('-').to_owned();
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!("cannot make a crate name from {raw:?}; pass --name");
    }
    Ok(name)
}

/// `s` as a TOML basic string, quoted.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render(content: &str, vars: &[(&str, &str)]) -> String {
    let mut out = content.to_owned();
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// Runs the verb.
pub fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let checkout = match &args.ferrovex_path {
        Some(path) => path
            .canonicalize()
            .with_context(|| format!("--ferrovex-path {}: no such folder", path.display()))?,
        None => own_checkout().context(
            "cannot find the Ferrovex checkout this binary was built from; pass --ferrovex-path",
        )?,
    };
    let library = checkout.join("crates/ferrovex");
    if !library.join("Cargo.toml").is_file() {
        bail!(
            "--ferrovex-path {}: not a Ferrovex checkout (no crates/ferrovex/Cargo.toml)",
            checkout.display()
        );
    }
    if args.dir.exists()
        && std::fs::read_dir(&args.dir)
            .with_context(|| format!("cannot read {}", args.dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} already exists and is not empty; pick a new folder",
            args.dir.display()
        );
    }
    let folder_name = match &args.name {
        Some(name) => name.clone(),
        None => std::path::absolute(&args.dir)?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let name = crate_name(&folder_name)?;
    let crate_ident = name.replace('-', "_");
    let vite = args.frontend.as_deref() == Some("vite");
    let codegen_line = if vite {
        "codegen = \"web/convex/_generated\"".to_owned()
    } else {
        "# codegen = \"web/convex/_generated\"".to_owned()
    };
    let library_path = library.display().to_string();
    // A TOML basic string: quotes, backslashes and control characters escaped.
    let library_toml = toml_string(&library_path);
    let vars = [
        ("name", name.as_str()),
        ("crate", crate_ident.as_str()),
        ("ferrovex_path", library_toml.as_str()),
        ("codegen_line", codegen_line.as_str()),
    ];
    let mut files: Vec<&Template> = APP.iter().collect();
    if vite {
        files.extend(VITE.iter());
    }
    for template in files {
        let path = args.dir.join(template.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, render(template.content, &vars))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // The checkout's lock file pins the same dependency versions the workspace was tested
    // with (cargo drops the entries the app does not need), and lets the first build run
    // offline from the local registry cache.
    let lock = checkout.join("Cargo.lock");
    if lock.is_file() {
        std::fs::copy(&lock, args.dir.join("Cargo.lock")).context("cannot copy Cargo.lock")?;
    }
    let dir = args.dir.display();
    println!("Created the app {name} in {dir}, depending on {library_path}");
    println!();
    println!("Next:");
    println!("  cd {dir}");
    println!("  cargo test                      # the functions on the real engine");
    println!("  ferrovex dev                    # serve on :3210, rebuild on every change");
    if vite {
        println!("  cd web && npm install && npm run dev   # a live page on the generated api");
    } else {
        println!(
            "  cargo run -- codegen --out ../web/convex/_generated   # typed api for a frontend"
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_come_from_folder_names() {
        assert_eq!(crate_name("My App").unwrap(), "my-app");
        assert_eq!(crate_name("todo_2").unwrap(), "todo_2");
        assert!(crate_name("42").is_err());
        assert_eq!(render("a {{name}} b {{name}}", &[("name", "x")]), "a x b x");
    }

    #[test]
    fn paths_are_written_as_toml_strings() {
        assert_eq!(toml_string("/srv/ferrovex"), "\"/srv/ferrovex\"");
        assert_eq!(toml_string("/a \"b\"\\c"), "\"/a \\\"b\\\"\\\\c\"");
        assert_eq!(toml_string("/tab\there"), "\"/tab\\u0009here\"");
    }
}
