//! Exclusive XML Canonicalization 1.0 without comments (W3C xml-exc-c14n, §3) of one element
//! subtree of a parsed document, optionally leaving out one descendant (the enveloped
//! `ds:Signature`, XML-DSig §6.6.4). Used to check the digests and signatures of signed
//! requests; our own documents are written canonical from the start (`xml::XmlWriter`).
//!
//! roxmltree resolves namespaces but does not keep prefixes, so qualified names are read
//! back from the input text. A document that binds two prefixes to one URI may then
//! canonicalize differently from the signer's; that fails verification, never passes it.

use roxmltree::{Node, NodeId};

use super::xml::{escape_attr, escape_text};

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// The canonical form of `apex` and its descendants, without `exclude`'s subtree.
/// `inclusive` is the `InclusiveNamespaces PrefixList` (`#default` names the default one).
///
/// The walk is iterative, with the open elements on a heap stack, so no document depth can
/// exhaust the thread's stack (SECURITY 18): a deep tree costs memory in proportion to its
/// size, which the parser's caps already bound.
pub fn canonicalize(apex: Node, exclude: Option<NodeId>, inclusive: &[&str]) -> String {
    let mut c = Canon {
        out: String::new(),
        rendered: Vec::new(),
        inclusive,
    };
    // Open elements, each with the length of `rendered` to restore when it closes.
    let mut open = vec![(apex, c.start_tag(apex))];
    let mut next = apex.first_child();
    while let Some(&(innermost, mark)) = open.last() {
        let Some(node) = next else {
            c.end_tag(innermost, mark);
            open.pop();
            // The apex's siblings are not part of its canonical form.
            next = if open.is_empty() {
                None
            } else {
                innermost.next_sibling()
            };
            continue;
        };
        if Some(node.id()) == exclude {
            next = node.next_sibling();
        } else if node.is_element() {
            open.push((node, c.start_tag(node)));
            next = node.first_child();
        } else {
            c.leaf(node);
            next = node.next_sibling();
        }
    }
    c.out
}

struct Canon<'p> {
    out: String,
    /// Namespace declarations rendered by output ancestors: (prefix, uri), innermost last.
    rendered: Vec<(String, String)>,
    inclusive: &'p [&'p str],
}

impl Canon<'_> {
    /// Writes the start tag (C14N §2.3: namespace declarations, then attributes sorted by
    /// namespace URI and local name) and returns the mark `end_tag` restores.
    fn start_tag(&mut self, node: Node) -> usize {
        let qname = element_qname(node);
        let decls = self.namespaces_to_render(node, qname);
        let mark = self.rendered.len();
        self.out.push('<');
        self.out.push_str(qname);
        for (prefix, uri) in &decls {
            if prefix.is_empty() {
                self.out.push_str(" xmlns=\"");
            } else {
                self.out.push_str(" xmlns:");
                self.out.push_str(prefix);
                self.out.push_str("=\"");
            }
            escape_attr(&mut self.out, uri);
            self.out.push('"');
        }
        self.rendered.extend(decls);
        let text = node.document().input_text();
        let mut attrs: Vec<_> = node.attributes().collect();
        attrs.sort_by(|a, b| {
            (a.namespace().unwrap_or(""), a.name()).cmp(&(b.namespace().unwrap_or(""), b.name()))
        });
        for a in attrs {
            self.out.push(' ');
            self.out.push_str(&text[a.range_qname()]);
            self.out.push_str("=\"");
            escape_attr(&mut self.out, a.value());
            self.out.push('"');
        }
        self.out.push('>');
        mark
    }

    fn end_tag(&mut self, node: Node, mark: usize) {
        self.out.push_str("</");
        self.out.push_str(element_qname(node));
        self.out.push('>');
        self.rendered.truncate(mark);
    }

    /// Text and processing instructions; comments are not part of the form without comments.
    fn leaf(&mut self, node: Node) {
        if node.is_text() {
            escape_text(&mut self.out, node.text().unwrap_or(""));
        } else if let Some(pi) = node.pi() {
            self.out.push_str("<?");
            self.out.push_str(pi.target);
            if let Some(v) = pi.value {
                self.out.push(' ');
                // XML 1.0 §2.11: every CR LF and lone CR is read as LF, everywhere; the
                // parser does it for text and attributes but hands PI data over raw.
                self.out
                    .push_str(&v.replace("\r\n", "\n").replace('\r', "\n"));
            }
            self.out.push_str("?>");
        }
    }

    /// Exc-c14n §3: a namespace node is rendered when its prefix is visibly utilized by the
    /// element (or listed in the PrefixList and in scope) and no output ancestor already
    /// rendered the same binding. Sorted by prefix, default first.
    fn namespaces_to_render(&self, node: Node, qname: &str) -> Vec<(String, String)> {
        let text = node.document().input_text();
        let mut used: Vec<&str> = vec![prefix_of(qname)];
        for a in node.attributes() {
            if a.namespace().is_some() {
                used.push(prefix_of(&text[a.range_qname()]));
            }
        }
        for p in self.inclusive {
            let p = if *p == "#default" { "" } else { *p };
            let in_scope = p.is_empty() || node.namespaces().any(|n| n.name() == Some(p));
            if in_scope {
                used.push(p);
            }
        }
        used.sort_unstable();
        used.dedup();
        let mut out = Vec::new();
        for p in used {
            if p == "xml" {
                continue;
            }
            let uri = if p.is_empty() {
                node.namespaces()
                    .find(|n| n.name().is_none())
                    .map(|n| n.uri())
                    .unwrap_or("")
            } else {
                match node.namespaces().find(|n| n.name() == Some(p)) {
                    Some(n) => n.uri(),
                    None => continue,
                }
            };
            if uri == XML_NS {
                continue;
            }
            let above = self
                .rendered
                .iter()
                .rev()
                .find(|(q, _)| q == p)
                .map(|(_, u)| u.as_str());
            let needed = match above {
                Some(u) => u != uri,
                None => !(p.is_empty() && uri.is_empty()),
            };
            if needed {
                out.push((p.to_string(), uri.to_string()));
            }
        }
        out
    }
}

/// The element's qualified name as written in the input (`<samlp:AuthnRequest ...`).
fn element_qname<'a>(node: Node<'a, '_>) -> &'a str {
    let text = node.document().input_text();
    let start = node.range().start + 1;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .unwrap_or(rest.len());
    &rest[..end]
}

fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map(|(p, _)| p).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::xml::on_small_stack;

    fn c14n(xml: &str) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap();
        canonicalize(doc.root_element(), None, &[])
    }

    #[test]
    fn normalizes_attribute_order_quotes_and_empty_elements() {
        assert_eq!(
            c14n("<a b='2' a=\"1&#xD;\" xmlns=\"urn:x\"><e/>x&gt;<![CDATA[<y>]]><!--c--></a>"),
            "<a xmlns=\"urn:x\" a=\"1&#xD;\" b=\"2\"><e></e>x&gt;&lt;y&gt;</a>"
        );
    }

    #[test]
    fn renders_only_visibly_used_namespaces_once() {
        let xml = "<p:r xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" xmlns:u=\"urn:unused\">\
                   <p:c q:at=\"v\"><p:d xmlns:p=\"urn:p\"/></p:c></p:r>";
        assert_eq!(
            c14n(xml),
            "<p:r xmlns:p=\"urn:p\"><p:c xmlns:q=\"urn:q\" q:at=\"v\"><p:d></p:d></p:c></p:r>"
        );
    }

    #[test]
    fn subtree_takes_needed_declarations_from_ancestors_and_skips_excluded() {
        let xml = "<p:r xmlns:p=\"urn:p\" xmlns=\"urn:d\"><p:s ID=\"x\"><k/><p:sig/></p:s></p:r>";
        let doc = roxmltree::Document::parse(xml).unwrap();
        let s = doc.root_element().first_element_child().unwrap();
        let sig = s.last_element_child().unwrap();
        assert_eq!(
            canonicalize(s, Some(sig.id()), &[]),
            "<p:s xmlns:p=\"urn:p\" ID=\"x\"><k xmlns=\"urn:d\"></k></p:s>"
        );
        assert_eq!(
            canonicalize(s, None, &["#default"]),
            "<p:s xmlns=\"urn:d\" xmlns:p=\"urn:p\" ID=\"x\"><k></k><p:sig></p:sig></p:s>"
        );
    }

    #[test]
    fn depth_costs_no_stack() {
        // Parsed without sesame's depth cap, as a caller that forgot it would.
        let depth = 100_000;
        let xml = format!(
            "<r xmlns=\"urn:r\">{}<x a=\"1\">t</x><!--c-->{}</r>",
            "<e>".repeat(depth),
            "</e>".repeat(depth)
        );
        let out = on_small_stack(|| {
            let doc = roxmltree::Document::parse(&xml).unwrap();
            canonicalize(doc.root_element(), None, &[])
        });
        assert_eq!(out, xml.replace("<!--c-->", ""));
    }

    #[test]
    fn excluded_subtree_and_siblings_after_it_in_a_deep_walk() {
        let xml = "<r><a><b><s><t/></s>x</b>y<c/></a>z</r>";
        let doc = roxmltree::Document::parse(xml).unwrap();
        let a = doc.root_element().first_element_child().unwrap();
        let s = a
            .first_element_child()
            .unwrap()
            .first_element_child()
            .unwrap();
        assert_eq!(
            canonicalize(a, Some(s.id()), &[]),
            "<a><b>x</b>y<c></c></a>",
            "the apex's own siblings (z) are not included"
        );
    }

    #[test]
    fn writer_output_is_its_own_canonical_form() {
        let mut w = crate::saml::xml::XmlWriter::new();
        w.open(
            "samlp:Response",
            &[("xmlns:samlp", "urn:p"), ("ID", "_1"), ("A", "\"<&\t\n")],
        )
        .leaf(
            "saml:Issuer",
            &[("xmlns:saml", "urn:s")],
            "a</saml:Issuer>&\r]]><!---->",
        )
        .open("samlp:Status", &[])
        .close();
        let xml = w.finish();
        assert_eq!(c14n(&xml), xml);
    }
}
