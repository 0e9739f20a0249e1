//! MuJoCo MJCF robot descriptions: the bodies' `pos`/`quat` offsets, the `hinge`/`slide`
//! joints' axes and the sites, from the document's `worldbody`.

use std::path::Path;

use nalgebra::{Isometry3, Quaternion, Translation3, Unit, UnitQuaternion, Vector3};

use super::{Body, Joint, JointKind, RobotModel, Site};
use crate::error::{Error, Location, Result, parser_message, quote};

impl RobotModel {
    /// Reads and parses the MJCF file at `path` (see [`from_mjcf_str`](Self::from_mjcf_str)).
    pub fn from_mjcf_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_mjcf_str(&text, path)
    }

    /// Parses the `worldbody` of an MJCF document; `path` is used in error messages.
    pub fn from_mjcf_str(text: &str, path: &Path) -> Result<Self> {
        if nesting_depth(text) > MAX_DEPTH {
            return Err(Error::invalid(Location::file(path), format!("elements nested deeper than {MAX_DEPTH}")));
        }
        let doc = roxmltree::Document::parse(text).map_err(|e| {
            Error::invalid(
                Location::file(path).line(e.pos().row as u64),
                format!("not valid XML: {}", parser_message(e)),
            )
        })?;
        let root = doc.root_element();
        let worldbody = root
            .children()
            .find(|n| n.has_tag_name("worldbody"))
            .ok_or_else(|| Error::invalid(Location::file(path), "no <worldbody> element"))?;
        let mut model = RobotModel {
            name: root.attribute("model").unwrap_or("robot").to_string(),
            bodies: vec![],
            sites: vec![],
            visuals: vec![],
        };
        // MJCF's default angle unit is the degree; hinge limits are stored in radians.
        let degrees = root
            .children()
            .find(|n| n.has_tag_name("compiler"))
            .and_then(|c| c.attribute("angle"))
            .is_none_or(|a| a != "radian");
        let parser = Parser { path, doc: &doc, degrees };
        for body in worldbody.children().filter(|n| n.has_tag_name("body")) {
            parser.body(body, None, &mut model)?;
        }
        if model.bodies.is_empty() {
            return Err(Error::invalid(Location::file(path), "<worldbody> holds no <body>"));
        }
        Ok(model)
    }
}

/// Deepest nesting of elements read (a real arm has a few dozen levels).
const MAX_DEPTH: usize = 256;

/// The deepest element nesting of an XML text, at most over-counted (a `<` inside a comment or
/// CDATA counts as an element). roxmltree's parser and [`Parser::body`] recurse once per
/// level, so a file nested 200 000 deep overflowed the stack: this is checked first, without
/// recursion.
fn nesting_depth(text: &str) -> usize {
    let b = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0);
    while i < b.len() {
        if b[i] == b'<' {
            match b.get(i + 1) {
                Some(b'/') => depth = depth.saturating_sub(1),
                Some(b'!' | b'?') | None => {}
                Some(_) => {
                    // The tag ends at the first `>` outside a quoted attribute value.
                    let (mut j, mut quote) = (i + 1, None);
                    while j < b.len() && !(quote.is_none() && b[j] == b'>') {
                        match quote {
                            None if b[j] == b'"' || b[j] == b'\'' => quote = Some(b[j]),
                            Some(q) if b[j] == q => quote = None,
                            _ => {}
                        }
                        j += 1;
                    }
                    if b[j - 1] != b'/' {
                        depth += 1;
                        deepest = deepest.max(depth);
                    }
                    i = j;
                }
            }
        }
        i += 1;
    }
    deepest
}

struct Parser<'a> {
    path: &'a Path,
    doc: &'a roxmltree::Document<'a>,
    /// `<compiler angle>` is `degree` (or absent): hinge ranges are converted to radians.
    degrees: bool,
}

impl Parser<'_> {
    fn at(&self, node: roxmltree::Node, attribute: &str) -> Location {
        let pos = self.doc.text_pos_at(node.range().start);
        Location::file(self.path).line(pos.row as u64).column(format!("<{}> {attribute}", node.tag_name().name()))
    }

    fn vector(&self, node: roxmltree::Node, attribute: &str, default: [f64; 3]) -> Result<Vector3<f64>> {
        let v = self.numbers::<3>(node, attribute)?.unwrap_or(default);
        Ok(Vector3::new(v[0], v[1], v[2]))
    }

    fn numbers<const N: usize>(&self, node: roxmltree::Node, attribute: &str) -> Result<Option<[f64; N]>> {
        let Some(text) = node.attribute(attribute) else {
            return Ok(None);
        };
        let values: Vec<f64> =
            text.split_whitespace().map(|s| s.parse::<f64>()).collect::<std::result::Result<_, _>>().map_err(|_| {
                Error::invalid(self.at(node, attribute), format!("{} is not a list of numbers", quote(text)))
            })?;
        let array: [f64; N] = values.try_into().map_err(|_| {
            Error::invalid(self.at(node, attribute), format!("expected {N} numbers, found {}", quote(text)))
        })?;
        // Rust parses "nan" and "inf"; a pose built from them would silently be NaN.
        if array.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                self.at(node, attribute),
                format!("{} holds a value that is not finite", quote(text)),
            ));
        }
        Ok(Some(array))
    }

    fn body(&self, node: roxmltree::Node, parent: Option<usize>, model: &mut RobotModel) -> Result<()> {
        for unsupported in ["euler", "axisangle", "xyaxes", "zaxis"] {
            if node.has_attribute(unsupported) {
                return Err(Error::invalid(
                    self.at(node, unsupported),
                    "orientation given this way is not supported; use quat",
                ));
            }
        }
        let pos = self.vector(node, "pos", [0.0; 3])?;
        let [w, x, y, z] = self.numbers::<4>(node, "quat")?.unwrap_or([1.0, 0.0, 0.0, 0.0]);
        let quaternion = Quaternion::new(w, x, y, z);
        if !(quaternion.norm() > 1e-12 && quaternion.norm().is_finite()) {
            return Err(Error::invalid(self.at(node, "quat"), "the quaternion's length must be positive and finite"));
        }
        let rotation = UnitQuaternion::from_quaternion(quaternion);
        let index = model.bodies.len();
        let mut joints = Vec::new();
        for child in node.children().filter(|n| n.is_element()) {
            match child.tag_name().name() {
                "joint" => joints.push(self.joint(child)?),
                "site" => model.sites.push(Site {
                    name: child.attribute("name").unwrap_or_default().to_string(),
                    body: index,
                    pos: self.vector(child, "pos", [0.0; 3])?,
                }),
                _ => {}
            }
        }
        model.bodies.push(Body {
            name: node.attribute("name").unwrap_or_default().to_string(),
            parent,
            offset: Isometry3::from_parts(Translation3::from(pos), rotation),
            joints,
        });
        for child in node.children().filter(|n| n.has_tag_name("body")) {
            self.body(child, Some(index), model)?;
        }
        Ok(())
    }

    fn joint(&self, node: roxmltree::Node) -> Result<Joint> {
        let kind = match node.attribute("type").unwrap_or("hinge") {
            "hinge" => JointKind::Hinge,
            "slide" => JointKind::Slide,
            other => {
                return Err(Error::invalid(
                    self.at(node, "type"),
                    format!("joint type {} is not supported (hinge, slide)", quote(other)),
                ));
            }
        };
        let axis = self.vector(node, "axis", [0.0, 0.0, 1.0])?;
        if !(axis.norm() > 1e-12 && axis.norm().is_finite()) {
            return Err(Error::invalid(self.at(node, "axis"), "the axis's length must be positive and finite"));
        }
        Ok(Joint {
            name: node.attribute("name").unwrap_or_default().to_string(),
            kind,
            axis: Unit::new_normalize(axis),
            pos: self.vector(node, "pos", [0.0; 3])?,
            // MJCF applies `range` only to joints marked `limited="true"`.
            range: match (node.attribute("limited"), self.numbers::<2>(node, "range")?) {
                (Some("true"), Some([lo, hi])) if lo <= hi => {
                    let k = if self.degrees && kind == JointKind::Hinge { std::f64::consts::PI / 180.0 } else { 1.0 };
                    Some((lo * k, hi * k))
                }
                (Some("true"), Some(_)) => {
                    return Err(Error::invalid(self.at(node, "range"), "lower limit above the upper one"));
                }
                _ => None,
            },
            mimic: None,
        })
    }
}
