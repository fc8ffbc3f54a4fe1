//! The portal's files, embedded in the component at build time, each with a
//! content hash computed at compile time. The hash names the URL of the
//! script and the style sheet (`/portal/assets/app.<hash>.js`), so they can
//! be cached forever: a new build serves new URLs from a fresh page.

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The file name as written in the page's template (`app.js`).
    pub name: &'static str,
    /// Its `content-type`.
    pub content_type: &'static str,
    /// The bytes.
    pub bytes: &'static [u8],
    /// FNV-1a 64 of the bytes, as 16 hex digits: the `ETag` and the URL's version.
    pub hash: &'static str,
}

impl Asset {
    /// `/portal/assets/<stem>.<hash>.<ext>`: where the page loads it from.
    pub fn url(&self) -> String {
        let (stem, ext) = self.name.rsplit_once('.').unwrap_or((self.name, ""));
        format!("/portal/assets/{stem}.{}.{ext}", self.hash)
    }
}

/// The page every portal path serves; `%app.js%` and `%app.css%` stand for
/// the assets' versioned URLs.
pub const PAGE_TEMPLATE: &str = include_str!("../static/index.html");

/// Builds an [`Asset`] from `static/<name>` with its hash computed at compile time.
macro_rules! asset {
    ($name:literal, $type:literal) => {{
        const BYTES: &[u8] = include_bytes!(concat!("../static/", $name));
        const HASH: [u8; 16] = hex16(fnv1a64(BYTES));
        Asset {
            name: $name,
            content_type: $type,
            bytes: BYTES,
            hash: match std::str::from_utf8(&HASH) {
                Ok(s) => s,
                Err(_) => panic!("hex digits are ASCII"),
            },
        }
    }};
}

/// The versioned assets the page loads.
pub const ASSETS: &[Asset] = &[
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
];

/// FNV-1a, 64 bits: small enough for `const` evaluation, and a cache key
/// needs no collision resistance against an attacker (we pick the bytes).
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `hash` as 16 lower-case hex digits.
pub const fn hex16(hash: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = DIGITS[((hash >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

/// The page with the assets' versioned URLs filled in.
pub fn page() -> String {
    ASSETS.iter().fold(PAGE_TEMPLATE.to_owned(), |page, a| {
        page.replace(&format!("%{}%", a.name), &a.url())
    })
}

/// The asset a versioned URL's file name (`app.<hash>.js`) names, if it is
/// the current version.
pub fn by_versioned_name(file: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| {
        let (stem, ext) = a.name.rsplit_once('.').unwrap_or((a.name, ""));
        file.strip_prefix(stem)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.strip_suffix(ext))
            .and_then(|rest| rest.strip_suffix('.'))
            == Some(a.hash)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fnv1a_64() {
        // Reference values of the FNV-1a 64 specification.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(&hex16(0x0123_4567_89ab_cdef), b"0123456789abcdef");
    }

    #[test]
    fn the_page_loads_every_asset_by_its_versioned_url_and_nothing_inline() {
        let page = page();
        for a in ASSETS {
            assert!(page.contains(&format!("\"{}\"", a.url())), "{} not linked", a.name);
        }
        assert!(!page.contains('%'), "an unfilled placeholder is left");
        assert!(!page.contains("<script>"), "no inline script: the CSP forbids it");
        assert!(!page.contains("style="), "no inline style: the CSP forbids it");
    }

    #[test]
    fn only_the_current_version_of_an_asset_is_found() {
        let js = &ASSETS[0];
        let current = js.url().rsplit('/').next().map(str::to_owned).unwrap_or_default();
        assert_eq!(by_versioned_name(&current), Some(js));
        assert_eq!(by_versioned_name("app.0000000000000000.js"), None);
        assert_eq!(by_versioned_name("app.js"), None);
    }

    #[test]
    fn no_file_carries_a_credential() {
        for text in [PAGE_TEMPLATE.as_bytes()]
            .into_iter()
            .chain(ASSETS.iter().map(|a| a.bytes))
        {
            let text = String::from_utf8_lossy(text);
            for secret in ["PRIVATE KEY", "whsec_", "sk_test_", "ck_local", "ek_local", "dev1:"] {
                assert!(!text.contains(secret), "a credential-like `{secret}` is embedded");
            }
        }
    }
}
