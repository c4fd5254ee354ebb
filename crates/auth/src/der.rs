//! Just enough DER to move RSA private keys between PKCS#8 (what aws-lc-rs writes),
//! PKCS#1 `RSAPrivateKey` (what it reads) and JWK components (what Better Auth stores).

/// The eight integers of an RSA private key, big-endian without leading zeros.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RsaComponents {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Vec<u8>,
    pub p: Vec<u8>,
    pub q: Vec<u8>,
    pub dp: Vec<u8>,
    pub dq: Vec<u8>,
    pub qi: Vec<u8>,
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn element(&mut self, expected_tag: u8) -> Option<&'a [u8]> {
        let (&tag, rest) = self.bytes.split_first()?;
        if tag != expected_tag {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let (content, after) = rest.split_at(len);
        self.bytes = after;
        Some(content)
    }

    fn integer(&mut self) -> Option<Vec<u8>> {
        let raw = self.element(0x02)?;
        let trimmed: &[u8] = match raw.iter().position(|b| *b != 0) {
            Some(i) => &raw[i..],
            None => &[0],
        };
        Some(trimmed.to_vec())
    }
}

/// Reads a PKCS#1 `RSAPrivateKey`.
pub(crate) fn parse_pkcs1(der: &[u8]) -> Option<RsaComponents> {
    let mut outer = Reader { bytes: der };
    let seq = outer.element(0x30)?;
    let mut r = Reader { bytes: seq };
    let _version = r.integer()?;
    Some(RsaComponents {
        n: r.integer()?,
        e: r.integer()?,
        d: r.integer()?,
        p: r.integer()?,
        q: r.integer()?,
        dp: r.integer()?,
        dq: r.integer()?,
        qi: r.integer()?,
    })
}

/// Reads a PKCS#8 `PrivateKeyInfo` holding an RSA key.
pub(crate) fn parse_pkcs8_rsa(der: &[u8]) -> Option<RsaComponents> {
    let mut outer = Reader { bytes: der };
    let seq = outer.element(0x30)?;
    let mut r = Reader { bytes: seq };
    let _version = r.integer()?;
    let _algorithm = r.element(0x30)?;
    let key = r.element(0x04)?;
    parse_pkcs1(key)
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn push_integer(out: &mut Vec<u8>, value: &[u8]) {
    let trimmed: &[u8] = match value.iter().position(|b| *b != 0) {
        Some(i) => &value[i..],
        None => &[0],
    };
    let pad = trimmed[0] & 0x80 != 0;
    out.push(0x02);
    push_len(out, trimmed.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
}

/// Writes a PKCS#1 `RSAPrivateKey`.
pub(crate) fn encode_pkcs1(c: &RsaComponents) -> Vec<u8> {
    let mut body = Vec::with_capacity(1300);
    push_integer(&mut body, &[0]);
    for v in [&c.n, &c.e, &c.d, &c.p, &c.q, &c.dp, &c.dq, &c.qi] {
        push_integer(&mut body, v);
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_round_trips_and_pads_high_bits() {
        let c = RsaComponents {
            n: vec![0xC0; 256],
            e: vec![1, 0, 1],
            d: vec![0x7F; 256],
            p: vec![0x80; 128],
            q: vec![1; 128],
            dp: vec![2; 128],
            dq: vec![3; 128],
            qi: vec![4; 128],
        };
        let der = encode_pkcs1(&c);
        assert_eq!(parse_pkcs1(&der), Some(c));
        assert!(parse_pkcs1(&der[..der.len() - 1]).is_none());
        assert!(parse_pkcs1(&[0x30, 0x85, 1, 2, 3, 4, 5]).is_none());
    }
}
