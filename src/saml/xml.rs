//! A small XML writer whose output is already in Exclusive XML Canonicalization form
//! (xml-exc-c14n, without comments): start and end tags for empty elements, namespace
//! declarations before attributes, attributes sorted, c14n escaping, no XML declaration and
//! no comments. What we sign is then exactly what we send (SECURITY 8, 10).

/// Writes elements in document order; every `open` needs its `close`.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    open: Vec<String>,
}

impl XmlWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// `<name attrs...>`. Attributes are written in c14n order: `xmlns` declarations first
    /// (sorted by prefix), then unprefixed attributes sorted by name. Prefixed attributes
    /// other than namespace declarations are not used by sesame's documents.
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        let mut decls: Vec<_> = attrs.iter().filter(|(k, _)| is_decl(k)).collect();
        let mut plain: Vec<_> = attrs.iter().filter(|(k, _)| !is_decl(k)).collect();
        debug_assert!(
            plain.iter().all(|(k, _)| !k.contains(':')),
            "prefixed attribute in {name}"
        );
        decls.sort_by_key(|(k, _)| *k);
        plain.sort_by_key(|(k, _)| *k);
        for (k, v) in decls.into_iter().chain(plain) {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_attr(&mut self.out, v);
            self.out.push('"');
        }
        self.out.push('>');
        self.open.push(name.to_string());
        self
    }

    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(&name);
            self.out.push('>');
        }
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        escape_text(&mut self.out, s);
        self
    }

    /// `<name attrs>text</name>`.
    pub fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.open(name, attrs).text(text).close()
    }

    /// Inserts already-canonical markup produced by another `XmlWriter` (a signed subtree).
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    /// Bytes written so far: where a signature will be inserted.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

fn is_decl(k: &str) -> bool {
    k == "xmlns" || k.starts_with("xmlns:")
}

/// Characters XML 1.0 cannot carry at all become U+FFFD, so no input breaks the document.
fn allowed(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
        c => c,
    }
}

// Canonical XML 1.0 §2.3: text escapes &, <, > and CR; attributes escape &, <, ", TAB, LF, CR.
// Shared with `c14n`, whose input comes from a parser and so never holds the characters
// `allowed` replaces.
pub(crate) fn escape_text(out: &mut String, s: &str) {
    for c in s.chars().map(allowed) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

pub(crate) fn escape_attr(out: &mut String, s: &str) {
    for c in s.chars().map(allowed) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_shape_and_escaping() {
        let mut w = XmlWriter::new();
        w.open(
            "a:Root",
            &[("b", "2"), ("xmlns:a", "urn:a"), ("A", "1\"<&\n")],
        )
        .leaf("a:V", &[], "</a:V><!----> ]]> & \r")
        .open("a:Empty", &[])
        .close();
        let xml = w.finish();
        assert_eq!(
            xml,
            "<a:Root xmlns:a=\"urn:a\" A=\"1&quot;&lt;&amp;&#xA;\" b=\"2\">\
             <a:V>&lt;/a:V&gt;&lt;!----&gt; ]]&gt; &amp; &#xD;</a:V><a:Empty></a:Empty></a:Root>"
        );
        let parsed = roxmltree::Document::parse(&xml).unwrap();
        let v = parsed.root_element().first_element_child().unwrap();
        assert_eq!(
            v.text(),
            Some("</a:V><!----> ]]> & \r"),
            "values survive as text"
        );
    }

    #[test]
    fn control_characters_cannot_break_the_document() {
        let mut w = XmlWriter::new();
        w.leaf("x", &[("v", "a\u{0}b")], "c\u{1}d");
        let xml = w.finish();
        assert!(roxmltree::Document::parse(&xml).is_ok(), "{xml}");
    }
}
