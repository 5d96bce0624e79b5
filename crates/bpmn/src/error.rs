//! What is wrong with a model: each problem names its kind and the element.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    MalformedXml,
    Unsupported,
    NoStart,
    Unreachable,
    DeadEnd,
    RouteNowhere,
    UnboundLane,
    UnboundService,
    Condition,
    /// Structural problems: flows to missing elements, automatic loops, ...
    Invalid,
    Bindings,
    Limit,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MalformedXml => "malformed XML",
            ErrorKind::Unsupported => "unsupported element",
            ErrorKind::NoStart => "no start event",
            ErrorKind::Unreachable => "unreachable element",
            ErrorKind::DeadEnd => "dead end",
            ErrorKind::RouteNowhere => "exclusive gateway can route nowhere",
            ErrorKind::UnboundLane => "unbound lane",
            ErrorKind::UnboundService => "unbound service task",
            ErrorKind::Condition => "condition error",
            ErrorKind::Invalid => "invalid model",
            ErrorKind::Bindings => "invalid bindings",
            ErrorKind::Limit => "limit exceeded",
        }
    }
}

/// One problem found while importing, binding or validating a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: ErrorKind,
    /// Id of the element concerned (empty for document-level problems).
    pub element: String,
    /// Its `name` attribute, if any.
    pub name: String,
    pub message: String,
}

impl Problem {
    pub fn new(
        kind: ErrorKind,
        element: impl Into<String>,
        name: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            element: element.into(),
            name: name.into(),
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind.as_str(),
            "element": self.element,
            "name": self.name,
            "message": self.message,
        })
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.as_str())?;
        match (self.element.is_empty(), self.name.is_empty()) {
            (true, _) => {}
            (false, true) => write!(f, " at {}", self.element)?,
            (false, false) => write!(f, " at {} \"{}\"", self.element, self.name)?,
        }
        write!(f, ": {}", self.message)
    }
}

/// All problems of a model, reported together so a designer fixes them in one pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Self {
        Problems(vec![p])
    }
}
