//! XML in and out. Out: a small writer whose output is already in Exclusive XML
//! Canonicalization form (xml-exc-c14n, without comments): start and end tags for empty
//! elements, namespace declarations before attributes, attributes sorted, c14n escaping, no
//! XML declaration and no comments. What we sign is then exactly what we send (SECURITY 8,
//! 10). In: the one parser entry for XML from outside, which bounds the document before a
//! tree exists (SECURITY 1, 18), and the reading of an element's text as it was signed.

use std::borrow::Cow;

use roxmltree::{Document, Node, ParsingOptions};

/// The deepest element nesting accepted in XML from outside (the root is level 1). A signed
/// `AuthnRequest` nests about seven levels (`ec:InclusiveNamespaces` in `ds:Transform`, deep
/// in `ds:Signature`) and SP metadata about eight; the cap leaves room for extensions while
/// keeping every walk over the tree short (SECURITY 18).
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("it contains a DOCTYPE declaration, which is refused")]
    Doctype,
    #[error("its elements nest more than {} levels deep", MAX_DEPTH)]
    TooDeep,
    #[error("it is not well-formed XML: {0}")]
    Xml(String),
}

/// Parses XML that has not been trusted yet, in the order that keeps each step cheap: any
/// `<!DOCTYPE` is refused before a parser runs (SECURITY 1), the element nesting is measured
/// on the text and refused past [`MAX_DEPTH`] before a tree exists (SECURITY 18), then
/// roxmltree parses without DTD support and with at most `max_nodes` nodes.
pub fn parse_untrusted(text: &str, max_nodes: u32) -> Result<Document<'_>, ParseError> {
    if has_doctype(text) {
        return Err(ParseError::Doctype);
    }
    if nesting_depth(text, MAX_DEPTH) > MAX_DEPTH {
        return Err(ParseError::TooDeep);
    }
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: max_nodes,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, opts).map_err(|e| ParseError::Xml(e.to_string()))
}

/// `<!DOCTYPE` in any letter case, anywhere in the text.
pub fn has_doctype(text: &str) -> bool {
    text.as_bytes()
        .windows(9)
        .any(|w| w[0] == b'<' && w[1] == b'!' && w[2..].eq_ignore_ascii_case(b"DOCTYPE"))
}

/// The deepest element nesting in `text`, counted up to `cap + 1` and no further, by a scan
/// of the markup alone (XML 1.0 §2.4–2.8, §3.1). For well-formed XML without a DTD this is
/// the tree's depth: `<` starts markup everywhere outside comments, CDATA sections and
/// processing instructions (which are skipped whole), and inside a tag only quoted attribute
/// values may hold `>` or `/`. Text the scan cannot follow stops it; the parser refuses that.
pub fn nesting_depth(text: &str, cap: usize) -> usize {
    let b = text.as_bytes();
    // The offset just past the first `end` at or after `from`.
    let past = |from: usize, end: &[u8]| {
        b.get(from..)
            .and_then(|rest| rest.windows(end.len()).position(|w| w == end))
            .map(|i| from + i + end.len())
    };
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while let Some(lt) = b
        .get(i..)
        .and_then(|rest| rest.iter().position(|&c| c == b'<'))
    {
        let at = i + lt;
        let rest = &b[at..];
        let next = if rest.starts_with(b"<!--") {
            past(at + 4, b"-->")
        } else if rest.starts_with(b"<![CDATA[") {
            past(at + 9, b"]]>")
        } else if rest.starts_with(b"<?") {
            past(at + 2, b"?>")
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            past(at + 2, b">")
        } else if rest.starts_with(b"<!") {
            past(at + 2, b">")
        } else {
            start_tag_end(rest).map(|k| {
                let level = depth + 1;
                deepest = deepest.max(level);
                if rest[k - 1] != b'/' {
                    depth = level;
                }
                at + k + 1
            })
        };
        match next {
            Some(n) if deepest <= cap => i = n,
            _ => break,
        }
    }
    deepest
}

/// The offset of the `>` that ends the start tag at the beginning of `tag`, skipping quoted
/// attribute values (XML 1.0 §3.1: they may hold `>` and `/`, never `<`).
fn start_tag_end(tag: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (k, &c) in tag.iter().enumerate().skip(1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => return Some(k),
            None => {}
        }
    }
    None
}

/// The text of a simple-content element (`saml:Issuer`, `ds:DigestValue`): all its text
/// children joined, which is what the canonical form carries. A comment splits the text in
/// two nodes and c14n without comments drops it, so `a<!---->b` verifies as `ab` and must be
/// read as `ab`, not `a` (CVE-2017-11427 and its kin). `None` when the element has element
/// children, which simple content cannot have: reading around them would not be what was
/// signed.
pub fn simple_text<'a>(node: Node<'a, '_>) -> Option<Cow<'a, str>> {
    let mut text: Option<Cow<'a, str>> = None;
    for child in node.children() {
        if child.is_element() {
            return None;
        }
        if let Some(t) = child.text().filter(|_| child.is_text()) {
            text = Some(match text.take() {
                None => Cow::Borrowed(t),
                Some(mut all) => {
                    all.to_mut().push_str(t);
                    all
                }
            });
        }
    }
    Some(text.unwrap_or(Cow::Borrowed("")))
}

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

/// Runs `f` on a thread with a small stack: a walk that recursed once per level would
/// overflow it (and abort the test binary) long before the depths the tests use.
#[cfg(test)]
pub(crate) fn on_small_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn_scoped(s, f)
            .expect("spawn")
            .join()
            .expect("no panic")
    })
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

    /// The tree's element depth, walked without recursion.
    fn tree_depth(doc: &Document) -> usize {
        doc.descendants()
            .filter(|n| n.is_element())
            .map(|n| n.ancestors().filter(|a| a.is_element()).count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn the_text_scan_measures_what_the_parser_builds() {
        let docs = [
            "<a/>",
            "<a></a>",
            "<a><b/><c><d/></c></a>",
            "<?xml version=\"1.0\"?><!-- <x><y> --><a><![CDATA[<b><c>]]><?p <q><r>?></a><!--<z>-->",
            "<a x=\"/>\" y='\"&gt;'><b z='>'/><b z=\"'/\"></b>text > more<c/></a>",
            "<a\n  x = '1'\t/>",
            "<p:a xmlns:p=\"urn:p\"><p:b><p:c>&lt;d&gt;&#60;e&#62;</p:c></p:b></p:a>",
            "<a><b><c><d><e><f/></e></d></c></b></a>",
        ];
        for xml in docs {
            let doc = Document::parse(xml).unwrap();
            assert_eq!(nesting_depth(xml, MAX_DEPTH), tree_depth(&doc), "{xml}");
        }
        let deep = format!("{}{}", "<a>".repeat(1000), "</a>".repeat(1000));
        assert_eq!(nesting_depth(&deep, 5), 6, "counting stops past the cap");
        assert_eq!(nesting_depth(&deep, 2000), 1000);
    }

    #[test]
    fn untrusted_xml_is_bounded_before_it_is_parsed() {
        let at_cap = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse_untrusted(&at_cap, 1000).is_ok());
        let over = format!("<r>{at_cap}</r>");
        assert_eq!(
            parse_untrusted(&over, 1000).err(),
            Some(ParseError::TooDeep)
        );
        let empty_leaf = format!("<r>{}</r>", at_cap.replacen("<a></a>", "<a/>", 1));
        assert_eq!(
            parse_untrusted(&empty_leaf, 1000).err(),
            Some(ParseError::TooDeep),
            "an empty element is a level too"
        );
        // Far past anything a stack could hold, and still only a scan of the text.
        let huge = "<a>".repeat(1 << 20);
        let verdict = on_small_stack(|| parse_untrusted(&huge, u32::MAX).err());
        assert_eq!(verdict, Some(ParseError::TooDeep));
        assert_eq!(
            parse_untrusted("<!DocType a><a/>", 1000).err(),
            Some(ParseError::Doctype)
        );
        assert!(matches!(
            parse_untrusted("<a><b/><c/></a>", 3),
            Err(ParseError::Xml(_))
        ));
        assert!(matches!(
            parse_untrusted("<a>", 10),
            Err(ParseError::Xml(_))
        ));
    }

    #[test]
    fn simple_text_is_all_the_text_or_nothing() {
        let doc = Document::parse("<r><a>x<!--c-->y<![CDATA[<z>]]><?p?>w</a><b/><c>1<d/>2</c></r>")
            .unwrap();
        let mut el = doc.root_element().children().filter(|n| n.is_element());
        let (a, b, c) = (el.next().unwrap(), el.next().unwrap(), el.next().unwrap());
        assert_eq!(simple_text(a).as_deref(), Some("xy<z>w"));
        assert_eq!(simple_text(b).as_deref(), Some(""));
        assert_eq!(simple_text(c), None);
    }

    #[test]
    fn control_characters_cannot_break_the_document() {
        let mut w = XmlWriter::new();
        w.leaf("x", &[("v", "a\u{0}b")], "c\u{1}d");
        let xml = w.finish();
        assert!(roxmltree::Document::parse(&xml).is_ok(), "{xml}");
    }
}
