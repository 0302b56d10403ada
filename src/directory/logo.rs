//! App logos: PNG or SVG, at most [`MAX`] bytes. An SVG is accepted only if it is plain
//! drawing, judged by an allow-list rather than a list of known-bad constructs: well-formed
//! and not too deep (parsed as untrusted XML), only shape, text, gradient and grouping
//! elements, only presentation attributes, references only within the document (`#id`),
//! no stylesheets, animations, scripts or links. Logos are also served with a sandboxing
//! CSP (`web::portal::logo`), so even a missed construct cannot run on sesame's origin.

use super::DirectoryError;
use crate::saml::xml::{self, ParseError};

pub const MAX: usize = 64 * 1024;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const SVG_NS: &str = "http://www.w3.org/2000/svg";

/// The SVG elements a logo may use: drawing, text, paint servers, grouping, metadata.
/// Not `style`, `script`, `a`, `image`, `use`, `foreignObject`, `set`, `animate*`, `filter`.
const ELEMENTS: &[&str] = &[
    "svg",
    "g",
    "defs",
    "title",
    "desc",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "text",
    "tspan",
    "lineargradient",
    "radialgradient",
    "stop",
    "clippath",
    "mask",
];

/// The attributes a logo may use: geometry and presentation. Not `style`, `href`, event
/// handlers or anything else that could fetch or run.
const ATTRIBUTES: &[&str] = &[
    "id",
    "class",
    "viewbox",
    "width",
    "height",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "r",
    "rx",
    "ry",
    "d",
    "points",
    "transform",
    "fill",
    "fill-opacity",
    "fill-rule",
    "stroke",
    "stroke-width",
    "stroke-opacity",
    "stroke-linecap",
    "stroke-linejoin",
    "stroke-miterlimit",
    "stroke-dasharray",
    "stroke-dashoffset",
    "opacity",
    "color",
    "clip-path",
    "clip-rule",
    "mask",
    "offset",
    "stop-color",
    "stop-opacity",
    "gradientunits",
    "gradienttransform",
    "spreadmethod",
    "fx",
    "fy",
    "fr",
    "preserveaspectratio",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "text-anchor",
    "dominant-baseline",
    "letter-spacing",
    "dx",
    "dy",
    "version",
    "clippathunits",
    "maskunits",
    "maskcontentunits",
    "vector-effect",
    "visibility",
    "display",
];

fn invalid(m: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid(m.into())
}

/// The content type of an acceptable logo, or why it is refused.
pub fn check(bytes: &[u8]) -> Result<&'static str, DirectoryError> {
    if bytes.is_empty() {
        return Err(invalid("choose a PNG or SVG file for the logo"));
    }
    if bytes.len() > MAX {
        return Err(invalid(format!(
            "the logo is {} KiB; at most {} KiB are accepted",
            bytes.len().div_ceil(1024),
            MAX / 1024
        )));
    }
    if bytes.starts_with(PNG_MAGIC) {
        return Ok("image/png");
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| invalid("the logo is neither a PNG nor an SVG file"))?;
    let doc = xml::parse_untrusted(text, 20_000).map_err(|e| match e {
        ParseError::Doctype => invalid("an SVG logo must not contain a DOCTYPE"),
        ParseError::TooDeep => invalid(format!("an SVG logo must not {e}")),
        ParseError::Xml(_) => invalid("the logo is neither a PNG nor a well-formed SVG file"),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "svg" || root.tag_name().namespace() != Some(SVG_NS) {
        return Err(invalid(
            "the logo is neither a PNG nor an SVG file (no <svg> root)",
        ));
    }
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        let allowed = node.tag_name().namespace() == Some(SVG_NS)
            && ELEMENTS.contains(&name.to_ascii_lowercase().as_str());
        if !allowed {
            return Err(invalid(format!(
                "an SVG logo must not contain <{name}> (plain drawing only: shapes, text, gradients)"
            )));
        }
        for a in node.attributes() {
            let attr = a.name();
            if a.namespace().is_some() || !ATTRIBUTES.contains(&attr.to_ascii_lowercase().as_str())
            {
                return Err(invalid(format!(
                    "an SVG logo must not contain the attribute {attr} (presentation attributes only)"
                )));
            }
            // Paint and clip references stay inside the document: `url(#id)` only.
            let v: String = a
                .value()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase();
            if v.match_indices("url(")
                .any(|(i, _)| !v[i + 4..].starts_with('#'))
            {
                return Err(invalid(format!(
                    "an SVG logo must not refer to other documents ({attr})"
                )));
            }
        }
    }
    Ok("image/svg+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVG: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" fill="blue"/></svg>"#;

    #[test]
    fn accepts_gradients_and_local_references() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><defs><linearGradient id="g"><stop offset="0" stop-color="teal"/></linearGradient></defs><rect width="8" height="8" fill="url(#g)"/><text x="1" y="6" font-size="4">S</text></svg>"##;
        assert_eq!(check(svg.as_bytes()).unwrap(), "image/svg+xml");
    }

    #[test]
    fn accepts_png_and_plain_svg() {
        let mut png = PNG_MAGIC.to_vec();
        png.extend_from_slice(&[0; 32]);
        assert_eq!(check(&png).unwrap(), "image/png");
        assert_eq!(check(SVG.as_bytes()).unwrap(), "image/svg+xml");
    }

    #[test]
    fn refuses_active_or_oversized_content() {
        let bad = [
            r#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><text>x</text></a></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><image href="https://evil.example/x.png"/></svg>"#,
            r#"<!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg"/>"#,
            r#"<html><body/></html>"#,
            // Issue 11, finding 5: each passed the earlier deny-list.
            r#"<svg xmlns="http://www.w3.org/2000/svg"><a><set attributeName="href" to="java&#9;script:alert(1)"/><text>x</text></a></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://evil.example/x.css);</style></svg>"#,
            r##"<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1" fill="url(http://evil.example/p#x)"/></svg>"##,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1" fill="url( 'https://evil.example' )"/></svg>"#,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill: red"/></svg>"#,
            r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink"><use x:href="#a"/></svg>"##,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><animate attributeName="fill"/></svg>"#,
            "GIF89a....",
            "",
        ];
        for b in bad {
            assert!(check(b.as_bytes()).is_err(), "{b}");
        }
        let big = format!("{}{}", &SVG[..SVG.len() - 6], " ".repeat(MAX)) + "</svg>";
        let e = check(big.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("at most 64 KiB"), "{e}");
    }
}
