//! Differential Exclusive XML Canonicalization (issue 11): every document in `tests/c14n/`
//! canonicalized by sesame (`saml::c14n`) and by libxml2 (`xmllint --exc-c14n`), byte for
//! byte: the whole document, the subtree of every element, and each `ds:Signature`'s parent
//! without it (the enveloped-signature case). libxml2 cannot be given an InclusiveNamespaces
//! PrefixList, so those cases are checked against forms derived by hand from the spec.
//!
//! Two adaptations make xmllint compute what sesame computes, and both are exact:
//! - `xmllint --exc-c14n` keeps comments. The form sesame implements has none (and is what an
//!   `#ID` reference gets, XML-DSig §4.4.3.3), so comment nodes are cut out of the text, at
//!   the byte ranges the parser reports, before libxml2 reads it.
//! - xmllint canonicalizes a document; sesame an element. An element's subtree becomes a
//!   document: its text, with each namespace in scope on it but declared on an ancestor
//!   copied onto its start tag. Exclusive c14n sees an apex's ancestors only through the
//!   namespaces in scope on it (Exc-C14N §3; unlike C14N 1.0 it imports no `xml:`
//!   attributes), so both forms are the same. For the root element the processing
//!   instructions outside it are cut too: they are not part of an element's node-set.
//!
//! xmllint is a peer this test needs; it fails without it, under CI or not (make test
//! installs it through `scripts/setup.sh`).

use std::io::Write;
use std::ops::Range;
use std::path::Path;
use std::process::{Command, Stdio};

use roxmltree::Node;
use sesame::saml::c14n::canonicalize;
use sesame::saml::ns;
use sesame::saml::xml::parse_untrusted;

#[test]
fn whole_documents_canonicalize_as_libxml2_does() {
    let mut compared = 0;
    let mut failures = Vec::new();
    for (name, text) in corpus() {
        let doc = parse(&name, &text);
        let root = doc.root_element();
        let outside_root = doc.root().children().filter(|n| n.is_pi());
        let cuts = doc
            .descendants()
            .filter(|n| n.is_comment())
            .chain(outside_root)
            .map(|n| n.range())
            .collect();
        let input = cut(&text, 0..text.len(), cuts);
        let sesame = canonicalize(root, None, &[]);
        compared += 1;
        if let Some(report) = compare(&input, &sesame) {
            failures.push(format!("{name}, the whole document:\n{report}"));
        }
    }
    finish("whole documents", compared, failures);
}

#[test]
fn every_subtree_canonicalizes_as_libxml2_does() {
    let mut compared = 0;
    let mut failures = Vec::new();
    for (name, text) in corpus() {
        let doc = parse(&name, &text);
        let root = doc.root_element();
        let mut cases: Vec<(Node, Option<Node>)> = root
            .descendants()
            .filter(|n| n.is_element() && *n != root)
            .map(|e| (e, None))
            .collect();
        // XML-DSig §6.6.4: the enveloped signature's parent, without the signature.
        for sig in root
            .descendants()
            .filter(|n| n.tag_name().namespace() == Some(ns::DS) && n.has_tag_name("Signature"))
        {
            let parent = sig
                .parent_element()
                .expect("a signature has a parent element");
            cases.push((parent, Some(sig)));
        }
        for (apex, exclude) in cases {
            let input = as_document(apex, exclude);
            let sesame = canonicalize(apex, exclude.map(|x| x.id()), &[]);
            compared += 1;
            if let Some(report) = compare(&input, &sesame) {
                let without = exclude
                    .map(|x| format!(" without <{}>", qname(x)))
                    .unwrap_or_default();
                let line = doc.text_pos_at(apex.range().start).row;
                failures.push(format!(
                    "{name}, the subtree of <{}> on line {line}{without}:\n{report}",
                    qname(apex)
                ));
            }
        }
    }
    finish("element subtrees", compared, failures);
}

/// Exc-C14N §3: a prefix in the InclusiveNamespaces PrefixList (`#default` for the default
/// namespace) is rendered as Canonical XML 1.0 §2.3 renders every namespace node: wherever
/// it is in scope, unless the nearest output ancestor already rendered the same binding;
/// `xmlns=""` only where that ancestor rendered a non-empty default. Prefixes not in the
/// list follow the exclusive rule: rendered where visibly utilized (by the element's or an
/// attribute's qualified name, never by a QName inside a value) and not already in effect.
#[test]
fn inclusive_prefix_lists_match_forms_derived_from_the_spec() {
    // SAML's case: xs appears only inside xsi:type's value, so only the PrefixList keeps it;
    // the ancestors' samlp and xs are not visibly utilized; xsi is rendered where used.
    let response = "<samlp:Response xmlns:samlp=\"urn:p\" xmlns:saml=\"urn:a\" \
        xmlns:xs=\"urn:xs\" xmlns:xsi=\"urn:xsi\" ID=\"_r\"><saml:Assertion ID=\"_a\">\
        <saml:AttributeValue xsi:type=\"xs:string\">v</saml:AttributeValue>\
        </saml:Assertion></samlp:Response>";
    let assertion = |doc: &roxmltree::Document<'_>, list: &[&str]| {
        let a = doc.root_element().first_element_child().expect("Assertion");
        canonicalize(a, None, list)
    };
    let doc = parse("response", response);
    assert_eq!(
        assertion(&doc, &[]),
        "<saml:Assertion xmlns:saml=\"urn:a\" ID=\"_a\"><saml:AttributeValue \
         xmlns:xsi=\"urn:xsi\" xsi:type=\"xs:string\">v</saml:AttributeValue></saml:Assertion>"
    );
    assert_eq!(
        assertion(&doc, &["xs"]),
        "<saml:Assertion xmlns:saml=\"urn:a\" xmlns:xs=\"urn:xs\" ID=\"_a\"><saml:AttributeValue \
         xmlns:xsi=\"urn:xsi\" xsi:type=\"xs:string\">v</saml:AttributeValue></saml:Assertion>",
        "a listed prefix is rendered once, on the apex, though nothing in the subtree uses it"
    );

    // #default on a prefixed apex: the ancestor's default is rendered on the apex, not again
    // on k (same binding), again on p:t (another binding, though p:t does not use it), and
    // undeclared on u because the nearest output ancestor rendered a non-empty default.
    let doc = parse(
        "default",
        "<p:r xmlns:p=\"urn:p\" xmlns=\"urn:d\"><p:s><k/><p:t xmlns=\"urn:other\"/>\
         <u xmlns=\"\"/></p:s></p:r>",
    );
    let s = doc.root_element().first_element_child().expect("p:s");
    assert_eq!(
        canonicalize(s, None, &["#default"]),
        "<p:s xmlns=\"urn:d\" xmlns:p=\"urn:p\"><k></k><p:t xmlns=\"urn:other\"></p:t>\
         <u xmlns=\"\"></u></p:s>"
    );
    assert_eq!(
        canonicalize(s, None, &[]),
        "<p:s xmlns:p=\"urn:p\"><k xmlns=\"urn:d\"></k><p:t></p:t><u></u></p:s>",
        "without the list, the default is rendered only where used and never undeclared"
    );

    // A listed prefix that is not in scope, and #default with no default namespace in scope,
    // render nothing: an apex never carries xmlns="".
    let doc = parse("absent", "<r xmlns:q=\"urn:q\"><a><q:b/></a></r>");
    let a = doc.root_element().first_element_child().expect("a");
    assert_eq!(
        canonicalize(a, None, &["zz", "#default"]),
        "<a><q:b xmlns:q=\"urn:q\"></q:b></a>"
    );

    // A listed prefix declared only below the apex is rendered where it comes into scope,
    // again where it is rebound, and not where it is redeclared with the same URI.
    let doc = parse(
        "below",
        "<r><a xmlns:q=\"urn:q1\"><b xmlns:q=\"urn:q2\"><c xmlns:q=\"urn:q2\"/></b></a></r>",
    );
    let r = doc.root_element();
    assert_eq!(
        canonicalize(r, None, &["q"]),
        "<r><a xmlns:q=\"urn:q1\"><b xmlns:q=\"urn:q2\"><c></c></b></a></r>"
    );
    assert_eq!(canonicalize(r, None, &[]), "<r><a><b><c></c></b></a></r>");
}

/// The signed parts of a SAML message, as `dsig` canonicalizes them, derived by hand.
#[test]
fn saml_subtrees_match_forms_derived_from_the_spec() {
    let doc = parse(
        "assertion",
        "<samlp:Response xmlns:samlp=\"urn:p\" xmlns:saml=\"urn:a\" xmlns:xs=\"urn:xs\">\
         <saml:Assertion ID=\"_a\"><saml:Issuer>idp</saml:Issuer>\
         <ds:Signature xmlns:ds=\"urn:ds\"><ds:SignedInfo>\
         <ds:Reference URI=\"#_a\"/></ds:SignedInfo></ds:Signature>\
         <saml:Subject a=\"1\"/></saml:Assertion></samlp:Response>",
    );
    let assertion = doc.root_element().first_element_child().expect("Assertion");
    let sig = assertion
        .children()
        .find(|n| n.has_tag_name("Signature"))
        .expect("Signature");
    let signed_info = sig.first_element_child().expect("SignedInfo");
    // XML-DSig §6.6.4 (the enveloped signature is left out) with Exc-C14N §3 (saml, declared
    // on the Response, is rendered on the apex that uses it; samlp and xs are not used).
    assert_eq!(
        canonicalize(assertion, Some(sig.id()), &[]),
        "<saml:Assertion xmlns:saml=\"urn:a\" ID=\"_a\"><saml:Issuer>idp</saml:Issuer>\
         <saml:Subject a=\"1\"></saml:Subject></saml:Assertion>"
    );
    // XML-DSig §4.4.3 (SignedInfo is canonicalized on its own) with Exc-C14N §3: only ds,
    // declared on the Signature, is rendered; nothing of the SAML ancestors is.
    assert_eq!(
        canonicalize(signed_info, None, &[]),
        "<ds:SignedInfo xmlns:ds=\"urn:ds\"><ds:Reference URI=\"#_a\"></ds:Reference>\
         </ds:SignedInfo>"
    );
}

/// C14N 1.0 §2.3: a namespace node is processed "in the same way as an attribute node", so
/// `&` and `"` in a namespace URI are escaped. libxml2 2.9.14 writes the URI unescaped
/// (`xmlC14NPrintNamespaces`), an output that is not even well-formed, so this case is not
/// in the differential corpus.
#[test]
fn namespace_uris_are_escaped_as_attribute_values_are() {
    let doc = parse(
        "escaping",
        "<p:r xmlns:p=\"urn:a&amp;b\" xmlns=\"urn:c?d=&quot;e&quot;\"><x/></p:r>",
    );
    assert_eq!(
        canonicalize(doc.root_element(), None, &[]),
        "<p:r xmlns:p=\"urn:a&amp;b\"><x xmlns=\"urn:c?d=&quot;e&quot;\"></x></p:r>"
    );
}

/// The corpus, in file name order: (file name, text).
fn corpus() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c14n");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no corpus documents in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            let name = format!(
                "tests/c14n/{}",
                p.file_name().expect("name").to_string_lossy()
            );
            (name, text)
        })
        .collect()
}

/// Parses as sesame parses XML from outside, and checks the case says what it exercises.
fn parse<'a>(name: &str, text: &'a str) -> roxmltree::Document<'a> {
    let doc = parse_untrusted(text, 1_000_000)
        .unwrap_or_else(|e| panic!("{name}: sesame refuses the document: {e}"));
    if name.ends_with(".xml") {
        assert!(
            doc.root().first_child().is_some_and(|n| n.is_comment()),
            "{name}: a corpus document opens with a comment saying what it exercises"
        );
    }
    doc
}

/// The text of `range`, without the `cuts` inside it (sorted or not; nested ones ignored).
fn cut(text: &str, range: Range<usize>, mut cuts: Vec<Range<usize>>) -> String {
    cuts.sort_by_key(|c| c.start);
    let mut out = String::new();
    let mut at = range.start;
    for c in cuts {
        if c.start >= at && c.end <= range.end {
            out.push_str(&text[at..c.start]);
            at = c.end;
        }
    }
    out.push_str(&text[at..range.end]);
    out
}

/// `apex`'s subtree as a document of its own, without `exclude` and without comments, with
/// the namespaces it inherits declared on its start tag.
fn as_document(apex: Node, exclude: Option<Node>) -> String {
    let text = apex.document().input_text();
    let cuts = apex
        .descendants()
        .filter(|n| n.is_comment())
        .chain(exclude)
        .map(|n| n.range())
        .collect();
    let mut out = cut(text, apex.range(), cuts);
    let name_end = 1 + qname(apex).len();
    let own = declared_prefixes(&out[name_end..]);
    let mut inherited = String::new();
    for n in apex.namespaces() {
        let prefix = n.name().unwrap_or("");
        if prefix == "xml" || n.uri().is_empty() || own.contains(&prefix) {
            continue;
        }
        let name = if prefix.is_empty() {
            "xmlns".to_string()
        } else {
            format!("xmlns:{prefix}")
        };
        let uri = n
            .uri()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;");
        inherited.push_str(&format!(" {name}=\"{uri}\""));
    }
    out.insert_str(name_end, &inherited);
    out
}

/// The prefixes the start tag at the beginning of `attrs` (just past the element's name)
/// declares, "" standing for the default namespace.
fn declared_prefixes(attrs: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = attrs;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with(['>', '/']) {
            return out;
        }
        let (name, value) = rest.split_once('=').expect("an attribute in a start tag");
        let value = value.trim_start();
        let quote = value.chars().next().expect("a quoted value");
        let end = 1 + value[1..].find(quote).expect("the closing quote");
        let name = name.trim_end();
        if name == "xmlns" {
            out.push("");
        } else if let Some(prefix) = name.strip_prefix("xmlns:") {
            out.push(prefix);
        }
        rest = &value[end + 1..];
    }
}

/// The element's qualified name as written.
fn qname<'a>(e: Node<'a, '_>) -> &'a str {
    let tag = &e.document().input_text()[e.range().start + 1..];
    let end = tag
        .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
        .expect("the end of the name");
    &tag[..end]
}

/// libxml2's exclusive canonical form of `input` against sesame's, or a report of how they
/// differ.
fn compare(input: &str, sesame: &str) -> Option<String> {
    match xmllint(input) {
        Ok(libxml2) if libxml2 == sesame => None,
        Ok(libxml2) => Some(format!(
            "{}  libxml2 input: {input:?}\n  libxml2: {libxml2:?}\n  sesame:  {sesame:?}\n",
            first_difference(&libxml2, sesame)
        )),
        Err(stderr) => Some(format!(
            "  libxml2 refuses it: {}\n  libxml2 input: {input:?}\n  sesame:  {sesame:?}\n",
            stderr.trim()
        )),
    }
}

/// Where two canonical forms first part, with a little context on each side.
fn first_difference(libxml2: &str, sesame: &str) -> String {
    let at = libxml2
        .char_indices()
        .zip(sesame.chars())
        .find(|((_, a), b)| a != b)
        .map(|((i, _), _)| i)
        .unwrap_or(libxml2.len().min(sesame.len()));
    let before: String = {
        let mut tail: Vec<char> = libxml2[..at].chars().rev().take(40).collect();
        tail.reverse();
        tail.into_iter().collect()
    };
    let after = |s: &str| s[at..].chars().take(40).collect::<String>();
    format!(
        "  first difference at byte {at}, after {before:?}:\n    libxml2 has {:?}\n    sesame has  {:?}\n",
        after(libxml2),
        after(sesame)
    )
}

/// Runs `xmllint --exc-c14n` on `input`: its output, or its error messages.
fn xmllint(input: &str) -> Result<String, String> {
    let mut child = Command::new("xmllint")
        .args(["--nonet", "--exc-c14n", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "xmllint cannot start ({e}): this test needs it, from Debian's libxml2-utils; \
                 `scripts/setup.sh test` (run by make test) installs it"
            )
        });
    // xmllint reads its whole input before it writes, so this cannot block on a full pipe.
    child
        .stdin
        .take()
        .expect("xmllint's stdin")
        .write_all(input.as_bytes())
        .expect("write to xmllint");
    let out = child.wait_with_output().expect("xmllint's output");
    if out.status.success() {
        String::from_utf8(out.stdout).map_err(|e| format!("output is not UTF-8: {e}"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn finish(what: &str, compared: usize, failures: Vec<String>) {
    eprintln!(
        "c14n_diff: {what}: {} of {compared} canonical forms equal libxml2's",
        compared - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {compared} {what} canonicalize differently in sesame and libxml2:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
