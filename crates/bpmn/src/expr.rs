//! The expression language of conditions and service arguments.
//!
//! Expressions are typed, side-effect free and deterministic: integers and
//! fixed-point decimals use checked integer arithmetic (no floating point), the
//! source and every nesting level are bounded, and every input gives a value or
//! an error, never a panic. They run inside consensus, so two validators must
//! always agree on the outcome, including on errors.
//!
//! See `docs/workflows.md`, section "Expression language".

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, ReadExt, Write};
use ingot_types::codec_util::{read_str, str_size, write_str, Field};

/// Decimals are `i64` counts of `10^-DECIMAL_SCALE`.
pub const DECIMAL_SCALE: u32 = 6;
/// Longest expression source, in bytes.
pub const MAX_EXPR_LEN: usize = 1024;
/// Deepest nesting of the syntax tree (and of parentheses and prefix operators).
///
/// Checking and evaluation recurse over the tree, so bounding its height
/// bounds the stack they use. A chain like `a + b + c` counts one level per
/// operator.
pub const MAX_DEPTH: usize = 32;
/// Longest string value, in bytes.
pub const MAX_STRING_VALUE_LEN: usize = 1024;
/// Most items of a list value (the collection a multi-instance task
/// iterates: one instance per item, so it is bounded like the tokens).
pub const MAX_LIST_ITEMS: usize = 64;
/// Most bytes of text in one list value, all items together: a list is
/// one variable of an instance and must not dwarf the others.
pub const MAX_LIST_BYTES: usize = 4 * MAX_STRING_VALUE_LEN;
const _: () = assert!(MAX_STRING_VALUE_LEN <= MAX_LIST_BYTES);

/// One decimal unit, `10^DECIMAL_SCALE`.
const SCALE: i64 = 10i64.pow(DECIMAL_SCALE);
/// How many assignments [`find_all_false`] tries at most.
const MAX_COMBINATIONS: usize = 4096;

// ---------------------------------------------------------------------------
// Types and values
// ---------------------------------------------------------------------------

/// The type of a variable or expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    Int,
    Decimal,
    Text,
    Bool,
    /// A list of strings: the collection a multi-instance task iterates,
    /// or the results it gathers. Not an operand of expressions.
    List,
}

impl Type {
    /// The names used in bindings, BPMN `itemDefinition`s and Camunda forms.
    pub fn parse(s: &str) -> Option<Type> {
        match s {
            "integer" | "int" | "long" => Some(Type::Int),
            "decimal" => Some(Type::Decimal),
            "string" | "text" => Some(Type::Text),
            "boolean" | "bool" => Some(Type::Bool),
            "list" | "array" | "collection" => Some(Type::List),
            _ => None,
        }
    }

    /// Storage code; also the tag byte of an encoded [`Value`].
    pub fn code(self) -> u8 {
        match self {
            Type::Int => 0,
            Type::Decimal => 1,
            Type::Text => 2,
            Type::Bool => 3,
            Type::List => 4,
        }
    }

    /// Inverse of [`Type::code`].
    pub fn from_code(code: u8) -> Option<Type> {
        match code {
            0 => Some(Type::Int),
            1 => Some(Type::Decimal),
            2 => Some(Type::Text),
            3 => Some(Type::Bool),
            4 => Some(Type::List),
            _ => None,
        }
    }

    fn is_number(self) -> bool {
        matches!(self, Type::Int | Type::Decimal)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Int => "integer",
            Type::Decimal => "decimal",
            Type::Text => "string",
            Type::Bool => "boolean",
            Type::List => "list",
        })
    }
}

/// A typed value. `Decimal` holds a count of `10^-DECIMAL_SCALE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Decimal(i64),
    Text(String),
    Bool(bool),
    /// At most [`MAX_LIST_ITEMS`] strings of [`MAX_LIST_BYTES`] in all.
    List(Vec<String>),
}

impl Value {
    pub fn ty(&self) -> Type {
        match self {
            Value::Int(_) => Type::Int,
            Value::Decimal(_) => Type::Decimal,
            Value::Text(_) => Type::Text,
            Value::Bool(_) => Type::Bool,
            Value::List(_) => Type::List,
        }
    }

    /// A value given by a client as JSON for a variable of type `ty`.
    ///
    /// Integers are JSON integers or strings of digits; decimals are strings
    /// like `"12.50"` or JSON integers. JSON numbers with a fraction are
    /// refused: they are binary floating point and would not round-trip exactly.
    pub fn from_json(ty: Type, v: &serde_json::Value) -> Result<Value, String> {
        match ty {
            Type::Int => int_from_json(v).map(Value::Int),
            Type::Decimal => decimal_from_json(v).map(Value::Decimal),
            Type::Text => text_from_json(v).map(Value::Text),
            Type::Bool => match v {
                serde_json::Value::Bool(b) => Ok(Value::Bool(*b)),
                other => Err(format!(
                    "expected a boolean (true or false), found {}",
                    json_kind(other)
                )),
            },
            Type::List => list_from_json(v).map(Value::List),
        }
    }

    /// Inverse of [`Value::from_json`]: decimals become strings with trailing
    /// zeros trimmed (`"12.5"`, `"12"`), so they stay exact.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Decimal(d) => serde_json::Value::String(format_decimal(*d)),
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::List(items) => serde_json::Value::from(items.clone()),
        }
    }

    /// A scalar as a list item: its text, which [`item_as`] reads back
    /// (`"12.5"`, `"true"`, a string as it is); a list has none.
    pub fn item_text(&self) -> Option<String> {
        match self {
            Value::List(_) => None,
            Value::Text(s) => Some(s.clone()),
            Value::Decimal(d) => Some(format_decimal(*d)),
            other => Some(other.to_string()),
        }
    }

    /// The value as text is joined into a string with `+` (strings unquoted).
    fn plain(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// Numbers as counts of `10^-DECIMAL_SCALE` in `i128`, where promoting an
    /// integer cannot overflow; used for comparisons.
    fn scaled_i128(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(i128::from(*i) * i128::from(SCALE)),
            Value::Decimal(d) => Some(i128::from(*d)),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Decimal(d) => f.write_str(&format_decimal(*d)),
            Value::Text(s) => write!(f, "'{}'", escape(s)),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(items) => {
                let quoted: Vec<String> =
                    items.iter().map(|s| format!("'{}'", escape(s))).collect();
                write!(f, "[{}]", quoted.join(", "))
            }
        }
    }
}

/// Escapes a string so that `'…'` around it reads back as a literal.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// `12500000` → `"12.5"`, `12000000` → `"12"`, `-1` → `"-0.000001"`.
fn format_decimal(d: i64) -> String {
    let sign = if d < 0 { "-" } else { "" };
    // unsigned_abs: i64::MIN has no positive i64 counterpart.
    let abs = d.unsigned_abs();
    let scale = SCALE.unsigned_abs();
    let (int, frac) = (abs / scale, abs % scale);
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let width = DECIMAL_SCALE as usize;
    let digits = format!("{frac:0width$}");
    format!("{sign}{int}.{}", digits.trim_end_matches('0'))
}

fn json_kind(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => format!("the boolean {b}"),
        serde_json::Value::Number(n) => format!("the number {n}"),
        serde_json::Value::String(s) => {
            format!("the string {}", serde_json::Value::from(s.as_str()))
        }
        serde_json::Value::Array(_) => "an array".into(),
        serde_json::Value::Object(_) => "an object".into(),
    }
}

fn int_from_json(v: &serde_json::Value) -> Result<i64, String> {
    let parsed = match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => parse_int_str(s),
        _ => None,
    };
    parsed.ok_or_else(|| {
        format!(
            "expected an integer (a JSON integer or a string of digits within 64 bits), found {}",
            json_kind(v)
        )
    })
}

fn decimal_from_json(v: &serde_json::Value) -> Result<i64, String> {
    match v {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i
                .checked_mul(SCALE)
                .ok_or_else(|| format!("decimal out of range: {n}")),
            None if n.is_f64() => Err(format!(
                "expected a decimal as a string like \"12.50\", found the number {n} \
                 (JSON numbers with a fraction are floating point and inexact)"
            )),
            None => Err(format!("decimal out of range: {n}")),
        },
        serde_json::Value::String(s) => parse_decimal_str(s).ok_or_else(|| {
            format!(
                "expected a decimal like \"12.50\" (at most {DECIMAL_SCALE} digits after the point), found {}",
                json_kind(v)
            )
        }),
        other => Err(format!(
            "expected a decimal (a string like \"12.50\" or a JSON integer), found {}",
            json_kind(other)
        )),
    }
}

/// A JSON array of items for a list: strings, or integers, decimals
/// written as strings, booleans — each kept as its text, so that an item
/// becomes a typed value only when a variable of that type receives it.
fn list_from_json(v: &serde_json::Value) -> Result<Vec<String>, String> {
    let serde_json::Value::Array(items) = v else {
        return Err(format!(
            "expected a list (a JSON array), found {}",
            json_kind(v)
        ));
    };
    if items.len() > MAX_LIST_ITEMS {
        return Err(format!(
            "a list holds at most {MAX_LIST_ITEMS} items, found {}",
            items.len()
        ));
    }
    let items = items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            serde_json::Value::String(s) => Ok(s.clone()),
            serde_json::Value::Bool(b) => Ok(b.to_string()),
            serde_json::Value::Number(n) if n.is_i64() => Ok(n.to_string()),
            other => Err(format!(
                "list item {i}: expected a string, an integer or a boolean, found {} \
                 (decimals are written as strings like \"12.50\")",
                json_kind(other)
            )),
        })
        .collect::<Result<Vec<String>, String>>()?;
    check_list(&items)?;
    Ok(items)
}

/// A list's bounds: [`MAX_LIST_ITEMS`] items of at most
/// [`MAX_STRING_VALUE_LEN`] bytes each (an item becomes a string variable's
/// value), [`MAX_LIST_BYTES`] in all.
pub fn check_list(items: &[String]) -> Result<(), String> {
    if items.len() > MAX_LIST_ITEMS {
        return Err(format!("a list holds at most {MAX_LIST_ITEMS} items"));
    }
    if let Some(i) = items.iter().position(|s| s.len() > MAX_STRING_VALUE_LEN) {
        return Err(format!(
            "list item {i} is longer than {MAX_STRING_VALUE_LEN} bytes"
        ));
    }
    let bytes: usize = items.iter().map(String::len).sum();
    if bytes > MAX_LIST_BYTES {
        return Err(format!(
            "a list holds at most {MAX_LIST_BYTES} bytes of text, found {bytes}"
        ));
    }
    Ok(())
}

/// A list item as a value of type `ty` (a scalar): the inverse of how
/// [`list_from_json`] and [`Value::item_text`] keep items as text.
pub fn item_as(ty: Type, item: &str) -> Result<Value, String> {
    let parsed = match ty {
        Type::Text => Some(Value::Text(item.to_string())),
        Type::Int => parse_int_str(item).map(Value::Int),
        Type::Decimal => parse_decimal_str(item).map(Value::Decimal),
        Type::Bool => match item {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        Type::List => None,
    };
    parsed.ok_or_else(|| format!("list item '{}' is not {ty}", escape(item)))
}

fn text_from_json(v: &serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) if s.len() > MAX_STRING_VALUE_LEN => {
            Err(format!("string longer than {MAX_STRING_VALUE_LEN} bytes"))
        }
        serde_json::Value::String(s) => Ok(s.clone()),
        other => Err(format!("expected a string, found {}", json_kind(other))),
    }
}

/// `"-42"` → -42; only an optional `-` and ASCII digits.
fn parse_int_str(s: &str) -> Option<i64> {
    let (neg, digits) = split_sign(s);
    signed(int_magnitude(digits)?, neg)
}

/// `"-12.50"` → -12_500_000; at most `DECIMAL_SCALE` fraction digits.
fn parse_decimal_str(s: &str) -> Option<i64> {
    let (neg, body) = split_sign(s);
    let (int, frac) = match body.split_once('.') {
        Some((_, "")) => return None,
        Some(parts) => parts,
        None => (body, ""),
    };
    signed(decimal_magnitude(int, frac)?, neg)
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    }
}

fn signed(magnitude: u64, neg: bool) -> Option<i64> {
    let v = i128::from(magnitude);
    i64::try_from(if neg { -v } else { v }).ok()
}

/// The value of a non-empty run of ASCII digits, if it fits in a `u64`.
fn int_magnitude(digits: &str) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.chars().try_fold(0u64, |acc, c| {
        let d = c.to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// `int.frac` as a count of `10^-DECIMAL_SCALE`, if it fits in a `u64`.
fn decimal_magnitude(int: &str, frac: &str) -> Option<u64> {
    if frac.len() > DECIMAL_SCALE as usize {
        return None;
    }
    let whole = int_magnitude(int)?.checked_mul(SCALE.unsigned_abs())?;
    if frac.is_empty() {
        return Some(whole);
    }
    // "5" after the point is 500000 units: pad to DECIMAL_SCALE digits.
    let missing = DECIMAL_SCALE - frac.len() as u32;
    let part = int_magnitude(frac)?.checked_mul(10u64.checked_pow(missing)?)?;
    whole.checked_add(part)
}

// ---------------------------------------------------------------------------
// Storage encoding
// ---------------------------------------------------------------------------

/// Tag byte ([`Type::code`]), then a big-endian `i64`, a length-prefixed UTF-8
/// string of at most [`MAX_STRING_VALUE_LEN`] bytes, a bool byte, or (a list)
/// a big-endian `u16` count and that many length-prefixed strings.
impl Field for Value {
    type Bound = ();

    fn write_field(&self, buf: &mut impl BufMut) {
        self.ty().code().write(buf);
        match self {
            Value::Int(i) | Value::Decimal(i) => i.write(buf),
            Value::Text(s) => write_str(s, buf),
            Value::Bool(b) => b.write(buf),
            Value::List(items) => {
                (items.len() as u16).write(buf);
                for item in items {
                    write_str(item, buf);
                }
            }
        }
    }

    fn field_size(&self) -> usize {
        let payload = match self {
            Value::Int(i) | Value::Decimal(i) => i.encode_size(),
            Value::Text(s) => str_size(s),
            Value::Bool(b) => b.encode_size(),
            Value::List(items) => 2 + items.iter().map(|s| str_size(s)).sum::<usize>(),
        };
        1 + payload
    }

    fn read_field(buf: &mut impl Buf, _: ()) -> Result<Self, CodecError> {
        match Type::from_code(u8::read(buf)?) {
            Some(Type::Int) => Ok(Value::Int(i64::read(buf)?)),
            Some(Type::Decimal) => Ok(Value::Decimal(i64::read(buf)?)),
            Some(Type::Text) => Ok(Value::Text(read_str(buf, MAX_STRING_VALUE_LEN)?)),
            Some(Type::Bool) => Ok(Value::Bool(bool::read(buf)?)),
            Some(Type::List) => {
                let n = u16::read(buf)? as usize;
                if n > MAX_LIST_ITEMS {
                    return Err(CodecError::Invalid("Value", "list too long"));
                }
                let items = (0..n)
                    .map(|_| read_str(buf, MAX_STRING_VALUE_LEN))
                    .collect::<Result<Vec<_>, _>>()?;
                check_list(&items).map_err(|_| CodecError::Invalid("Value", "list too large"))?;
                Ok(Value::List(items))
            }
            None => Err(CodecError::Invalid("Value", "unknown type tag")),
        }
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A parse, type or evaluation error at a 0-based character column of the
/// original source (including any `${` prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    pub position: usize,
    pub message: String,
}

impl ExprError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        ExprError {
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Columns are shown 1-based, as editors count them.
        write!(
            f,
            "column {}: {}",
            self.position.saturating_add(1),
            self.message
        )
    }
}

impl std::error::Error for ExprError {}

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// Integer literal magnitude; the sign is a separate `-`.
    Int(u64),
    /// Decimal literal magnitude in units of `10^-DECIMAL_SCALE`.
    Dec(u64),
    Str(String),
    Ident(String),
    True,
    False,
    And,
    Or,
    Not,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// First and one-past-last character column in the original source.
    pos: usize,
    end: usize,
}

struct Lexer<'a> {
    src: &'a [char],
    at: usize,
    end: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        let i = self.at.checked_add(ahead)?;
        if i < self.end {
            self.src.get(i).copied()
        } else {
            None
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(|c| keep(*c)) {
            s.push(c);
            self.at += 1;
        }
        s
    }

    fn tokens(mut self) -> Result<Vec<Token>, ExprError> {
        let mut out = Vec::new();
        loop {
            self.take_while(char::is_whitespace);
            let Some(c) = self.peek() else {
                return Ok(out);
            };
            let pos = self.at;
            let tok = self.token(c)?;
            out.push(Token {
                tok,
                pos,
                end: self.at,
            });
        }
    }

    fn token(&mut self, c: char) -> Result<Tok, ExprError> {
        match c {
            '0'..='9' => self.number(),
            'a'..='z' | 'A'..='Z' | '_' => Ok(self.word()),
            '\'' | '"' => self.string(c),
            _ => self.symbol(c),
        }
    }

    fn number(&mut self) -> Result<Tok, ExprError> {
        let start = self.at;
        let int = self.take_while(|c| c.is_ascii_digit());
        let too_large = || ExprError::new(start, "number too large");
        if self.peek() != Some('.') {
            return int_magnitude(&int).map(Tok::Int).ok_or_else(too_large);
        }
        let dot = self.at;
        self.at += 1;
        let frac = self.take_while(|c| c.is_ascii_digit());
        if frac.is_empty() {
            return Err(ExprError::new(
                dot,
                "expected a digit after the decimal point",
            ));
        }
        let max = DECIMAL_SCALE as usize;
        if frac.len() > max {
            return Err(ExprError::new(
                dot + 1 + max,
                format!("a decimal has at most {max} digits after the point"),
            ));
        }
        decimal_magnitude(&int, &frac)
            .map(Tok::Dec)
            .ok_or_else(too_large)
    }

    fn word(&mut self) -> Tok {
        let w = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        match w.as_str() {
            "and" => Tok::And,
            "or" => Tok::Or,
            "not" => Tok::Not,
            "true" => Tok::True,
            "false" => Tok::False,
            _ => Tok::Ident(w),
        }
    }

    fn string(&mut self, quote: char) -> Result<Tok, ExprError> {
        let open = self.at;
        self.at += 1;
        let mut s = String::new();
        loop {
            let unterminated = || ExprError::new(open, "unterminated string");
            let c = self.peek().ok_or_else(unterminated)?;
            self.at += 1;
            if c == quote {
                return Ok(Tok::Str(s));
            }
            if c != '\\' {
                s.push(c);
                continue;
            }
            match self.peek().ok_or_else(unterminated)? {
                e @ ('\\' | '\'' | '"') => s.push(e),
                other => {
                    return Err(ExprError::new(
                        self.at - 1,
                        format!("unknown escape '\\{other}' (only \\\\, \\' and \\\" are allowed)"),
                    ))
                }
            }
            self.at += 1;
        }
    }

    fn symbol(&mut self, c: char) -> Result<Tok, ExprError> {
        let pos = self.at;
        let next = self.peek_at(1);
        let (tok, len) = match (c, next) {
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            ('*', _) => (Tok::Star, 1),
            ('/', _) => (Tok::Slash, 1),
            ('=', Some('=')) => (Tok::Eq, 2),
            ('!', Some('=')) => (Tok::Ne, 2),
            ('<', Some('=')) => (Tok::Le, 2),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('!', _) => (Tok::Not, 1),
            ('<', _) => (Tok::Lt, 1),
            ('>', _) => (Tok::Gt, 1),
            ('&', Some('&')) => (Tok::And, 2),
            ('|', Some('|')) => (Tok::Or, 2),
            ('=', _) => return Err(ExprError::new(pos, "unexpected '=' (use '==' to compare)")),
            ('&', _) => return Err(ExprError::new(pos, "unexpected '&' (use '&&' or 'and')")),
            ('|', _) => return Err(ExprError::new(pos, "unexpected '|' (use '||' or 'or')")),
            _ => return Err(ExprError::new(pos, format!("unexpected character '{c}'"))),
        };
        self.at += len;
        self.reject_glued_comparison(&tok, pos)?;
        Ok(tok)
    }

    /// `>>`, `<>`, `=<`, `===`: a comparison glued to more comparison
    /// characters is a typo for some other language's operator; reporting it
    /// as one unknown operator points at where the user typed it.
    fn reject_glued_comparison(&mut self, tok: &Tok, pos: usize) -> Result<(), ExprError> {
        let is_cmp = matches!(
            tok,
            Tok::Eq | Tok::Ne | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge
        );
        if !is_cmp || !matches!(self.peek(), Some('<' | '>' | '=')) {
            return Ok(());
        }
        self.at = pos;
        let run = self.take_while(|c| matches!(c, '<' | '>' | '=' | '!'));
        Err(ExprError::new(pos, format!("unknown operator '{run}'")))
    }
}

// ---------------------------------------------------------------------------
// Syntax tree and parser
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }

    fn comparison(t: &Tok) -> Option<BinOp> {
        match t {
            Tok::Eq => Some(BinOp::Eq),
            Tok::Ne => Some(BinOp::Ne),
            Tok::Lt => Some(BinOp::Lt),
            Tok::Le => Some(BinOp::Le),
            Tok::Gt => Some(BinOp::Gt),
            Tok::Ge => Some(BinOp::Ge),
            _ => None,
        }
    }

    fn additive(t: &Tok) -> Option<BinOp> {
        match t {
            Tok::Plus => Some(BinOp::Add),
            Tok::Minus => Some(BinOp::Sub),
            _ => None,
        }
    }

    fn multiplicative(t: &Tok) -> Option<BinOp> {
        match t {
            Tok::Star => Some(BinOp::Mul),
            Tok::Slash => Some(BinOp::Div),
            _ => None,
        }
    }

    fn or(t: &Tok) -> Option<BinOp> {
        (t == &Tok::Or).then_some(BinOp::Or)
    }

    fn and(t: &Tok) -> Option<BinOp> {
        (t == &Tok::And).then_some(BinOp::And)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Lit(Value),
    Var(String),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

/// A parsed expression. Every node keeps its source column (of the literal or
/// variable, or of the operator) so that type and evaluation errors can point
/// at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    pos: usize,
    /// Height of this subtree (a leaf is 1), at most [`MAX_DEPTH`].
    height: usize,
    kind: Kind,
}

impl Expr {
    fn leaf(pos: usize, kind: Kind) -> Expr {
        Expr {
            pos,
            height: 1,
            kind,
        }
    }

    /// Builds an inner node, refusing trees taller than [`MAX_DEPTH`].
    fn node(pos: usize, kind: Kind) -> Result<Expr, ExprError> {
        let below = match &kind {
            Kind::Lit(_) | Kind::Var(_) => 0,
            Kind::Not(e) | Kind::Neg(e) => e.height,
            Kind::Bin(_, l, r) => l.height.max(r.height),
        };
        let height = below.saturating_add(1);
        if height > MAX_DEPTH {
            return Err(too_deep(pos));
        }
        Ok(Expr { pos, height, kind })
    }
}

fn too_deep(pos: usize) -> ExprError {
    ExprError::new(
        pos,
        format!("expression nested too deeply (at most {MAX_DEPTH} levels)"),
    )
}

/// Parses an expression, optionally wrapped in `${…}` or `#{…}`. Error
/// columns refer to `src` as given, wrapper included.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    if src.len() > MAX_EXPR_LEN {
        return Err(ExprError::new(
            0,
            format!("expression longer than {MAX_EXPR_LEN} bytes"),
        ));
    }
    let chars: Vec<char> = src.chars().collect();
    let (start, end) = unwrap_braces(&chars)?;
    let tokens = Lexer {
        src: &chars,
        at: start,
        end,
    }
    .tokens()?;
    let mut parser = Parser {
        src: &chars,
        tokens,
        at: 0,
        end,
        depth: 0,
    };
    let expr = parser.or()?;
    if parser.peek().is_some() {
        return Err(parser.expected("an operator or the end of the expression"));
    }
    Ok(expr)
}

/// The character range to parse: inside `${ … }` / `#{ … }` if the trimmed
/// source is wrapped so (Camunda writes conditions that way), else everything.
fn unwrap_braces(chars: &[char]) -> Result<(usize, usize), ExprError> {
    let first = chars.iter().position(|c| !c.is_whitespace());
    let last = chars.iter().rposition(|c| !c.is_whitespace());
    let (Some(first), Some(last)) = (first, last) else {
        return Ok((0, chars.len()));
    };
    let opens = matches!(chars.get(first), Some('$' | '#')) && chars.get(first + 1) == Some(&'{');
    if !opens {
        return Ok((0, chars.len()));
    }
    if last <= first + 1 || chars.get(last) != Some(&'}') {
        let wrapper: String = chars
            .get(first..first + 2)
            .unwrap_or_default()
            .iter()
            .collect();
        return Err(ExprError::new(
            first,
            format!("missing '}}' to close '{wrapper}'"),
        ));
    }
    Ok((first + 2, last))
}

struct Parser<'a> {
    src: &'a [char],
    tokens: Vec<Token>,
    at: usize,
    /// Column just past the expression, where "end of input" is reported.
    end: usize,
    /// Current nesting of parentheses and prefix operators, which the parser
    /// recurses on; bounded so that no input can exhaust the stack.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |t| t.pos)
    }

    fn bump(&mut self) {
        self.at = self.at.saturating_add(1);
    }

    /// Takes the next token if `pick` turns it into an operator.
    fn take_op(&mut self, pick: fn(&Tok) -> Option<BinOp>) -> Option<(BinOp, usize)> {
        let op = pick(self.peek()?)?;
        let pos = self.pos();
        self.bump();
        Some((op, pos))
    }

    /// "expected …, found …" at the next token.
    fn expected(&self, what: &str) -> ExprError {
        let found = match self.tokens.get(self.at) {
            None => "end of input".to_string(),
            Some(t) => {
                let text: String = self
                    .src
                    .get(t.pos..t.end)
                    .unwrap_or_default()
                    .iter()
                    .collect();
                format!("'{text}'")
            }
        };
        ExprError::new(self.pos(), format!("expected {what}, found {found}"))
    }

    fn enter(&mut self, pos: usize) -> Result<(), ExprError> {
        self.depth = self.depth.saturating_add(1);
        if self.depth > MAX_DEPTH {
            return Err(too_deep(pos));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while let Some((op, pos)) = self.take_op(BinOp::or) {
            let right = self.and()?;
            left = Expr::node(pos, Kind::Bin(op, Box::new(left), Box::new(right)))?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.not()?;
        while let Some((op, pos)) = self.take_op(BinOp::and) {
            let right = self.not()?;
            left = Expr::node(pos, Kind::Bin(op, Box::new(left), Box::new(right)))?;
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.peek() != Some(&Tok::Not) {
            return self.comparison();
        }
        let pos = self.pos();
        self.bump();
        self.enter(pos)?;
        let operand = self.not()?;
        self.leave();
        Expr::node(pos, Kind::Not(Box::new(operand)))
    }

    /// Comparisons do not chain: `a < b < c` would compare a boolean with `c`,
    /// which is never what was meant.
    fn comparison(&mut self) -> Result<Expr, ExprError> {
        let left = self.additive()?;
        let Some((op, pos)) = self.take_op(BinOp::comparison) else {
            return Ok(left);
        };
        let right = self.additive()?;
        if self.peek().and_then(BinOp::comparison).is_some() {
            return Err(ExprError::new(
                self.pos(),
                "comparisons cannot be chained; join them with 'and'",
            ));
        }
        Expr::node(pos, Kind::Bin(op, Box::new(left), Box::new(right)))
    }

    fn additive(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.multiplicative()?;
        while let Some((op, pos)) = self.take_op(BinOp::additive) {
            let right = self.multiplicative()?;
            left = Expr::node(pos, Kind::Bin(op, Box::new(left), Box::new(right)))?;
        }
        Ok(left)
    }

    fn multiplicative(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while let Some((op, pos)) = self.take_op(BinOp::multiplicative) {
            let right = self.unary()?;
            left = Expr::node(pos, Kind::Bin(op, Box::new(left), Box::new(right)))?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.peek() != Some(&Tok::Minus) {
            return self.primary();
        }
        let pos = self.pos();
        self.bump();
        if let Some(lit) = self.negative_literal(pos)? {
            return Ok(lit);
        }
        self.enter(pos)?;
        let operand = self.unary()?;
        self.leave();
        Expr::node(pos, Kind::Neg(Box::new(operand)))
    }

    /// `-` directly before a number literal is part of the literal, so that
    /// `-9223372036854775808` (whose magnitude alone does not fit) is valid.
    fn negative_literal(&mut self, pos: usize) -> Result<Option<Expr>, ExprError> {
        let value = match self.peek() {
            Some(Tok::Int(m)) => signed(*m, true).map(Value::Int),
            Some(Tok::Dec(m)) => signed(*m, true).map(Value::Decimal),
            _ => return Ok(None),
        };
        let value = value.ok_or_else(|| ExprError::new(pos, "number out of range"))?;
        self.bump();
        Ok(Some(Expr::leaf(pos, Kind::Lit(value))))
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let pos = self.pos();
        let kind = match self.peek() {
            Some(Tok::Int(m)) => Kind::Lit(Value::Int(positive(*m, pos)?)),
            Some(Tok::Dec(m)) => Kind::Lit(Value::Decimal(positive(*m, pos)?)),
            Some(Tok::Str(s)) => Kind::Lit(Value::Text(s.clone())),
            Some(Tok::True) => Kind::Lit(Value::Bool(true)),
            Some(Tok::False) => Kind::Lit(Value::Bool(false)),
            Some(Tok::Ident(name)) => Kind::Var(name.clone()),
            Some(Tok::LParen) => return self.parenthesized(pos),
            _ => return Err(self.expected("a value")),
        };
        self.bump();
        Ok(Expr::leaf(pos, kind))
    }

    fn parenthesized(&mut self, open: usize) -> Result<Expr, ExprError> {
        self.bump();
        self.enter(open)?;
        let inner = self.or()?;
        self.leave();
        if self.peek() != Some(&Tok::RParen) {
            let what = format!("')' to close the '(' at column {}", open + 1);
            return Err(self.expected(&what));
        }
        self.bump();
        Ok(inner)
    }
}

fn positive(magnitude: u64, pos: usize) -> Result<i64, ExprError> {
    signed(magnitude, false).ok_or_else(|| ExprError::new(pos, "number out of range"))
}

// ---------------------------------------------------------------------------
// Typing rules (shared by check and eval so the two can never disagree)
// ---------------------------------------------------------------------------

/// The result type of a non-logical binary operator, or why it does not apply.
fn bin_type(op: BinOp, l: Type, r: Type) -> Result<Type, String> {
    if op.is_comparison() {
        return comparison_type(op, l, r);
    }
    // Joining text with anything formats the other side, for service
    // arguments like `'order ' + order_no`.
    if op == BinOp::Add && (l == Type::Text || r == Type::Text) {
        return Ok(Type::Text);
    }
    match (l, r) {
        (Type::Int, Type::Int) => Ok(Type::Int),
        _ if l.is_number() && r.is_number() => Ok(Type::Decimal),
        _ => Err(format!("cannot apply '{}' to {l} and {r}", op.symbol())),
    }
}

fn comparison_type(op: BinOp, l: Type, r: Type) -> Result<Type, String> {
    let ordering = !matches!(op, BinOp::Eq | BinOp::Ne);
    if l.is_number() && r.is_number() || l == r && l == Type::Text {
        return Ok(Type::Bool);
    }
    if l == Type::Bool && r == Type::Bool {
        if ordering {
            return Err(format!(
                "booleans cannot be compared with '{}'; only == and != apply",
                op.symbol()
            ));
        }
        return Ok(Type::Bool);
    }
    Err(format!("cannot compare {l} with {r}"))
}

fn need_bool(op: &str, operand: &Expr, ty: Type) -> Result<(), ExprError> {
    if ty == Type::Bool {
        return Ok(());
    }
    Err(ExprError::new(
        operand.pos,
        format!("'{op}' needs a boolean, found {ty}"),
    ))
}

// ---------------------------------------------------------------------------
// Checking and evaluation
// ---------------------------------------------------------------------------

impl Expr {
    /// Type-checks against declared variables and returns the result type.
    pub fn check(&self, vars: &dyn Fn(&str) -> Option<Type>) -> Result<Type, ExprError> {
        match &self.kind {
            Kind::Lit(v) => Ok(v.ty()),
            Kind::Var(name) => match vars(name) {
                None => Err(ExprError::new(
                    self.pos,
                    format!("unknown variable '{name}'"),
                )),
                Some(Type::List) => Err(ExprError::new(self.pos, list_operand(name))),
                Some(t) => Ok(t),
            },
            Kind::Not(e) => {
                need_bool("not", e, e.check(vars)?)?;
                Ok(Type::Bool)
            }
            Kind::Neg(e) => match e.check(vars)? {
                t if t.is_number() => Ok(t),
                t => Err(ExprError::new(
                    e.pos,
                    format!("'-' needs a number, found {t}"),
                )),
            },
            Kind::Bin(op, l, r) => {
                let (lt, rt) = (l.check(vars)?, r.check(vars)?);
                if matches!(op, BinOp::And | BinOp::Or) {
                    need_bool(op.symbol(), l, lt)?;
                    need_bool(op.symbol(), r, rt)?;
                    return Ok(Type::Bool);
                }
                bin_type(*op, lt, rt).map_err(|m| ExprError::new(self.pos, m))
            }
        }
    }

    /// Evaluates with the given variable values. `and` / `or` short-circuit.
    pub fn eval(&self, vars: &dyn Fn(&str) -> Option<Value>) -> Result<Value, ExprError> {
        let at = |m: String| ExprError::new(self.pos, m);
        match &self.kind {
            Kind::Lit(v) => Ok(v.clone()),
            Kind::Var(name) => variable(name, vars).map_err(at),
            Kind::Not(e) => Ok(Value::Bool(!truth("not", e, vars)?)),
            Kind::Neg(e) => negate(e.eval(vars)?).map_err(at),
            Kind::Bin(BinOp::And, l, r) => Ok(Value::Bool(
                truth("and", l, vars)? && truth("and", r, vars)?,
            )),
            Kind::Bin(BinOp::Or, l, r) => {
                Ok(Value::Bool(truth("or", l, vars)? || truth("or", r, vars)?))
            }
            Kind::Bin(op, l, r) => apply(*op, l.eval(vars)?, r.eval(vars)?).map_err(at),
        }
    }

    /// Names of the variables mentioned, sorted and deduplicated.
    pub fn variables(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        self.collect_variables(&mut names);
        names.into_iter().collect()
    }

    fn collect_variables(&self, names: &mut BTreeSet<String>) {
        match &self.kind {
            Kind::Lit(_) => {}
            Kind::Var(name) => {
                names.insert(name.clone());
            }
            Kind::Not(e) | Kind::Neg(e) => e.collect_variables(names),
            Kind::Bin(_, l, r) => {
                l.collect_variables(names);
                r.collect_variables(names);
            }
        }
    }
}

fn variable(name: &str, vars: &dyn Fn(&str) -> Option<Value>) -> Result<Value, String> {
    match vars(name) {
        None => Err(format!("variable '{name}' is not set")),
        Some(Value::List(_)) => Err(list_operand(name)),
        Some(Value::Text(s)) if s.len() > MAX_STRING_VALUE_LEN => Err(format!(
            "variable '{name}' holds a string longer than {MAX_STRING_VALUE_LEN} bytes"
        )),
        Some(v) => Ok(v),
    }
}

fn list_operand(name: &str) -> String {
    format!(
        "'{name}' is a list: a multi-instance task iterates it (one instance per item), \
         expressions use single values"
    )
}

/// Evaluates an operand of `not` / `and` / `or`, which must be a boolean.
fn truth(op: &str, e: &Expr, vars: &dyn Fn(&str) -> Option<Value>) -> Result<bool, ExprError> {
    match e.eval(vars)? {
        Value::Bool(b) => Ok(b),
        other => Err(ExprError::new(
            e.pos,
            format!("'{op}' needs a boolean, found {}", other.ty()),
        )),
    }
}

fn negate(v: Value) -> Result<Value, String> {
    match v {
        Value::Int(i) => i.checked_neg().map(Value::Int).ok_or_else(overflow),
        Value::Decimal(d) => d.checked_neg().map(Value::Decimal).ok_or_else(overflow),
        other => Err(format!("'-' needs a number, found {}", other.ty())),
    }
}

fn overflow() -> String {
    "arithmetic overflow".to_string()
}

/// A non-logical binary operator on evaluated operands.
fn apply(op: BinOp, a: Value, b: Value) -> Result<Value, String> {
    let ty = bin_type(op, a.ty(), b.ty())?;
    if op.is_comparison() {
        return compare(op, &a, &b).map(Value::Bool);
    }
    match ty {
        Type::Text => concat(&a, &b),
        Type::Int => int_arith(op, as_int(&a)?, as_int(&b)?).map(Value::Int),
        _ => decimal_arith(op, as_scaled(&a)?, as_scaled(&b)?).map(Value::Decimal),
    }
}

fn concat(a: &Value, b: &Value) -> Result<Value, String> {
    let s = a.plain() + &b.plain();
    if s.len() > MAX_STRING_VALUE_LEN {
        return Err(format!("string longer than {MAX_STRING_VALUE_LEN} bytes"));
    }
    Ok(Value::Text(s))
}

fn as_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(format!("expected an integer, found {}", other.ty())),
    }
}

/// A number as a decimal; promoting a large integer can overflow.
fn as_scaled(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => i.checked_mul(SCALE).ok_or_else(overflow),
        Value::Decimal(d) => Ok(*d),
        other => Err(format!("expected a number, found {}", other.ty())),
    }
}

fn int_arith(op: BinOp, a: i64, b: i64) -> Result<i64, String> {
    let result = match op {
        BinOp::Add => a.checked_add(b),
        BinOp::Sub => a.checked_sub(b),
        BinOp::Mul => a.checked_mul(b),
        BinOp::Div if b == 0 => return Err("division by zero".into()),
        // Truncates toward zero; None only for i64::MIN / -1.
        BinOp::Div => a.checked_div(b),
        _ => None,
    };
    result.ok_or_else(overflow)
}

/// Decimal arithmetic in `i128` so that the intermediate product of two
/// scaled values cannot overflow; the result is truncated toward zero and
/// must fit back into an `i64`.
fn decimal_arith(op: BinOp, a: i64, b: i64) -> Result<i64, String> {
    let (a, b, scale) = (i128::from(a), i128::from(b), i128::from(SCALE));
    let result = match op {
        BinOp::Add => a.checked_add(b),
        BinOp::Sub => a.checked_sub(b),
        BinOp::Mul => a.checked_mul(b).and_then(|p| p.checked_div(scale)),
        BinOp::Div if b == 0 => return Err("division by zero".into()),
        BinOp::Div => a.checked_mul(scale).and_then(|n| n.checked_div(b)),
        _ => None,
    };
    result
        .and_then(|r| i64::try_from(r).ok())
        .ok_or_else(overflow)
}

/// Numbers compare by value (an integer equals the same decimal), text by
/// bytes, booleans by equality only (enforced by [`bin_type`]).
fn compare(op: BinOp, a: &Value, b: &Value) -> Result<bool, String> {
    let ordering = match (a, b) {
        (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => match (a.scaled_i128(), b.scaled_i128()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => return Err(format!("cannot compare {} with {}", a.ty(), b.ty())),
        },
    };
    Ok(match op {
        BinOp::Eq => ordering == Ordering::Equal,
        BinOp::Ne => ordering != Ordering::Equal,
        BinOp::Lt => ordering == Ordering::Less,
        BinOp::Le => ordering != Ordering::Greater,
        BinOp::Gt => ordering == Ordering::Greater,
        BinOp::Ge => ordering != Ordering::Less,
        _ => return Err(format!("'{}' is not a comparison", op.symbol())),
    })
}

// ---------------------------------------------------------------------------
// Exhaustiveness of exclusive gateways
// ---------------------------------------------------------------------------

/// Looks for an assignment of the variables mentioned in `conditions` under
/// which no condition evaluates to `true` (each is `false` or fails), i.e. an
/// exclusive gateway without a default flow would route nowhere. Returns the
/// assignment sorted by name, or `None` if no candidate point has that effect.
///
/// Candidates per variable: for numbers, 0 and every constant the variable is
/// compared with directly (`amount > 1000`, `1000 <= amount`), that constant
/// and one unit either side (1 for integers, 10^-6 for decimals; for an
/// integer compared with a fractional constant, the integers just below and
/// above it); for booleans, both; for strings, every constant compared with
/// plus one string different from all of them. This is exact when conditions
/// compare variables with constants: every region the comparisons carve out
/// contains a candidate. For other shapes (`a + b > 10`) it is a heuristic.
///
/// At most 4096 assignments are tried, in mixed-radix order with the first
/// variable (by name) varying fastest. When the product of the candidate
/// counts is larger, only those first 4096 are tried, so `None` then means
/// "none found", not "none exists". A variable for which `types` gives no type
/// is left unset (conditions reading it fail, which counts as not true).
pub fn find_all_false(
    conditions: &[Expr],
    types: &dyn Fn(&str) -> Option<Type>,
) -> Option<Vec<(String, Value)>> {
    let constants = compared_constants(conditions);
    let names: BTreeSet<String> = conditions.iter().flat_map(Expr::variables).collect();
    let domains: Vec<(String, Vec<Value>)> = names
        .into_iter()
        .filter_map(|name| {
            let ty = types(&name)?;
            let values = candidates(ty, constants.get(&name).map_or(&[][..], Vec::as_slice));
            Some((name, values))
        })
        .collect();
    let mut digits = vec![0usize; domains.len()];
    for _ in 0..MAX_COMBINATIONS {
        let assignment = assignment_at(&domains, &digits)?;
        if none_holds(conditions, &assignment) {
            return Some(assignment);
        }
        if !advance(&mut digits, &domains) {
            return None;
        }
    }
    None
}

/// For every variable, the constants it is compared with anywhere in `conditions`.
fn compared_constants(conditions: &[Expr]) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for c in conditions {
        c.collect_constants(&mut out);
    }
    out
}

impl Expr {
    fn collect_constants(&self, out: &mut BTreeMap<String, Vec<Value>>) {
        match &self.kind {
            Kind::Lit(_) | Kind::Var(_) => {}
            Kind::Not(e) | Kind::Neg(e) => e.collect_constants(out),
            Kind::Bin(op, l, r) => {
                if op.is_comparison() {
                    record_comparison(l, r, out);
                    record_comparison(r, l, out);
                }
                l.collect_constants(out);
                r.collect_constants(out);
            }
        }
    }

    /// The value of a subexpression without variables (`1000`, `-2.5`, `2 * 3`).
    fn constant(&self) -> Option<Value> {
        self.eval(&|_| None).ok()
    }
}

fn record_comparison(var: &Expr, other: &Expr, out: &mut BTreeMap<String, Vec<Value>>) {
    if let Kind::Var(name) = &var.kind {
        if let Some(v) = other.constant() {
            out.entry(name.clone()).or_default().push(v);
        }
    }
}

/// Candidate values of one variable, sorted and deduplicated.
fn candidates(ty: Type, constants: &[Value]) -> Vec<Value> {
    match ty {
        Type::Bool => vec![Value::Bool(false), Value::Bool(true)],
        Type::List => Vec::new(),
        Type::Int => number_candidates(constants, int_neighbours)
            .into_iter()
            .map(Value::Int)
            .collect(),
        Type::Decimal => number_candidates(constants, decimal_neighbours)
            .into_iter()
            .map(Value::Decimal)
            .collect(),
        Type::Text => text_candidates(constants)
            .into_iter()
            .map(Value::Text)
            .collect(),
    }
}

/// 0 plus the `neighbours` of every numeric constant (given scaled, as `i128`),
/// in the variable's own representation.
fn number_candidates(constants: &[Value], neighbours: fn(i128) -> Vec<i128>) -> BTreeSet<i64> {
    let mut set = BTreeSet::from([0i64]);
    let points = constants.iter().filter_map(Value::scaled_i128);
    for n in points.flat_map(neighbours) {
        if let Ok(v) = i64::try_from(n) {
            set.insert(v);
        }
    }
    set
}

/// Integers around a scaled constant: n-1, n, n+1 for an integral n; the
/// integers just below and above a fractional one.
fn int_neighbours(scaled: i128) -> Vec<i128> {
    let scale = i128::from(SCALE);
    let floor = scaled.div_euclid(scale);
    if scaled.rem_euclid(scale) == 0 {
        vec![floor - 1, floor, floor + 1]
    } else {
        vec![floor, floor + 1]
    }
}

/// A decimal constant and one 10^-6 unit either side.
fn decimal_neighbours(scaled: i128) -> Vec<i128> {
    vec![scaled - 1, scaled, scaled + 1]
}

/// Every text constant plus one string different from all of them.
fn text_candidates(constants: &[Value]) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = constants
        .iter()
        .filter_map(|v| match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    // Terminates: the set is finite and every round makes `other` longer.
    let mut other = String::new();
    while set.contains(&other) {
        other.push('~');
    }
    set.insert(other);
    set
}

fn assignment_at(
    domains: &[(String, Vec<Value>)],
    digits: &[usize],
) -> Option<Vec<(String, Value)>> {
    domains
        .iter()
        .zip(digits)
        .map(|((name, values), &d)| Some((name.clone(), values.get(d)?.clone())))
        .collect()
}

/// Steps the mixed-radix counter; false once every combination has been seen.
fn advance(digits: &mut [usize], domains: &[(String, Vec<Value>)]) -> bool {
    for (digit, (_, values)) in digits.iter_mut().zip(domains) {
        *digit += 1;
        if *digit < values.len() {
            return true;
        }
        *digit = 0;
    }
    false
}

fn none_holds(conditions: &[Expr], assignment: &[(String, Value)]) -> bool {
    let lookup = |name: &str| {
        assignment
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .and_then(|i| assignment.get(i))
            .map(|(_, v)| v.clone())
    };
    conditions
        .iter()
        .all(|c| c.eval(&lookup) != Ok(Value::Bool(true)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn types(name: &str) -> Option<Type> {
        match name {
            "a" | "b" | "c" | "n" | "qty" => Some(Type::Int),
            "amount" | "price" | "d" => Some(Type::Decimal),
            "kind" | "s" | "order_no" => Some(Type::Text),
            "ok" | "urgent" => Some(Type::Bool),
            _ => None,
        }
    }

    fn values(name: &str) -> Option<Value> {
        match name {
            "a" => Some(Value::Int(7)),
            "b" => Some(Value::Int(-3)),
            "n" => Some(Value::Int(i64::MAX)),
            "amount" => Some(Value::Decimal(1_200_500_000)),
            "kind" => Some(Value::Text("x".into())),
            "order_no" => Some(Value::Text("PO-7".into())),
            "ok" => Some(Value::Bool(true)),
            _ => None,
        }
    }

    fn eval(src: &str) -> Result<Value, ExprError> {
        parse(src)?.eval(&values)
    }

    fn check(src: &str) -> Result<Type, ExprError> {
        parse(src)?.check(&types)
    }

    /// The error's 1-based column and message.
    fn err_at(r: Result<impl fmt::Debug, ExprError>) -> (usize, String) {
        let e = r.expect_err("expected an error");
        (e.position + 1, e.message)
    }

    #[test]
    fn type_names_and_codes() {
        for t in [Type::Int, Type::Decimal, Type::Text, Type::Bool, Type::List] {
            assert_eq!(Type::from_code(t.code()), Some(t));
            assert_eq!(Type::parse(&t.to_string()), Some(t));
        }
        assert_eq!(Type::from_code(5), None);
        assert_eq!(Type::parse("array"), Some(Type::List));
        assert_eq!(Type::parse("long"), Some(Type::Int));
        assert_eq!(Type::parse("text"), Some(Type::Text));
        assert_eq!(Type::parse("bool"), Some(Type::Bool));
        assert_eq!(Type::parse("float"), None);
        assert_eq!(Type::Int.to_string(), "integer");
    }

    #[test]
    fn syntax_errors_point_at_their_column() {
        let (col, msg) = err_at(parse("amount > "));
        assert_eq!(col, 10);
        assert_eq!(msg, "expected a value, found end of input");
        let (col, msg) = err_at(parse("a >> 3"));
        assert_eq!((col, msg.as_str()), (3, "unknown operator '>>'"));
        assert_eq!(err_at(parse("a <> 3")).0, 3);
        assert_eq!(err_at(parse("a === 3")).0, 3);
        assert_eq!(
            err_at(parse("x == 'abc")),
            (6, "unterminated string".into())
        );
        assert_eq!(err_at(parse("x == \"ab\\")).0, 6);
        assert_eq!(err_at(parse("x == 'a\\nb'")).0, 8);
        assert_eq!(err_at(parse("a = 1")).0, 3);
        assert_eq!(err_at(parse("a & b")).0, 3);
        assert_eq!(err_at(parse("a | b")).0, 3);
        assert_eq!(
            err_at(parse("a # b")),
            (3, "unexpected character '#'".into())
        );
        assert_eq!(err_at(parse("é > 1")).0, 1);
        assert_eq!(err_at(parse("1.")).0, 2);
        assert_eq!(err_at(parse("x > 1.1234567")).0, 13);
        assert_eq!(err_at(parse("99999999999999999999")).0, 1);
        assert_eq!(err_at(parse("9223372036854775808")).0, 1);
        assert_eq!(
            err_at(parse("a < b < c")),
            (
                7,
                "comparisons cannot be chained; join them with 'and'".into()
            )
        );
        let (col, msg) = err_at(parse("(a + 1"));
        assert_eq!(col, 7);
        assert!(msg.contains("')' to close the '(' at column 1"), "{msg}");
        let (col, msg) = err_at(parse("a b"));
        assert_eq!(col, 3);
        assert_eq!(
            msg,
            "expected an operator or the end of the expression, found 'b'"
        );
        assert_eq!(err_at(parse("")).0, 1);
        assert_eq!(err_at(parse("a and")).0, 6);
        assert_eq!(err_at(parse("a == !b")).1, "expected a value, found '!'");
        assert_eq!(err_at(parse(")")).1, "expected a value, found ')'");
    }

    #[test]
    fn limits_are_errors_not_crashes() {
        let long = "1 + ".repeat(300) + "1";
        assert!(long.len() > MAX_EXPR_LEN);
        assert_eq!(err_at(parse(&long)).0, 1);
        let parens = "(".repeat(40) + "1" + &")".repeat(40);
        assert!(err_at(parse(&parens)).1.contains("nested too deeply"));
        assert!(parse(&("(".repeat(20) + "1" + &")".repeat(20))).is_ok());
        assert!(parse(&("not ".repeat(40) + "true")).is_err());
        assert!(parse(&("-".repeat(40) + "a")).is_err());
        assert!(parse(&(vec!["1"; 40].join(" + "))).is_err());
        assert!(parse(&(vec!["1"; 20].join(" + "))).is_ok());
        // Exactly MAX_DEPTH levels is fine, one more is not.
        assert!(parse(&(vec!["a"; MAX_DEPTH].join("+"))).is_ok());
        assert!(parse(&(vec!["a"; MAX_DEPTH + 1].join("+"))).is_err());
        let big = format!("'{}' + 'y'", "x".repeat(MAX_STRING_VALUE_LEN));
        assert!(big.len() > MAX_EXPR_LEN);
        assert!(parse(&big).is_err());
    }

    #[test]
    fn wrapper_is_stripped_and_columns_stay_in_the_original() {
        assert_eq!(eval("${a > 5}"), Ok(Value::Bool(true)));
        assert_eq!(eval("  #{ a > 5 }  "), Ok(Value::Bool(true)));
        assert_eq!(eval("${ kind == '}' }"), Ok(Value::Bool(false)));
        let (col, msg) = err_at(parse("${amount > }"));
        assert_eq!(
            (col, msg.as_str()),
            (12, "expected a value, found end of input")
        );
        assert_eq!(err_at(parse("  ${ x ? 1 }")).0, 8);
        assert_eq!(
            err_at(parse("${ a > 1")),
            (1, "missing '}' to close '${'".into())
        );
        assert_eq!(err_at(parse("${}")).0, 3);
        let e = parse("${ zz > 1 }").unwrap().check(&types).unwrap_err();
        assert_eq!(
            (e.position, e.to_string()),
            (3, "column 4: unknown variable 'zz'".into())
        );
        // Columns count characters, not bytes.
        assert_eq!(err_at(parse("'é' == #")).0, 8);
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(eval("1 + 2 * 3"), Ok(Value::Int(7)));
        assert_eq!(eval("(1 + 2) * 3"), Ok(Value::Int(9)));
        assert_eq!(eval("10 - 4 - 3"), Ok(Value::Int(3)));
        assert_eq!(eval("24 / 4 / 2"), Ok(Value::Int(3)));
        assert_eq!(eval("-2 * -3"), Ok(Value::Int(6)));
        assert_eq!(eval("- a"), Ok(Value::Int(-7)));
        assert_eq!(eval("--a"), Ok(Value::Int(7)));
        assert_eq!(eval("true or false and false"), Ok(Value::Bool(true)));
        assert_eq!(eval("(true or false) and false"), Ok(Value::Bool(false)));
        assert_eq!(eval("not a > 5"), Ok(Value::Bool(false)));
        assert_eq!(eval("!ok || a == 7 && b < 0"), Ok(Value::Bool(true)));
        assert_eq!(eval("not not ok"), Ok(Value::Bool(true)));
        assert_eq!(eval("a + 1 == 8 and kind != 'y'"), Ok(Value::Bool(true)));
        assert_eq!(eval("-9223372036854775808"), Ok(Value::Int(i64::MIN)));
        assert_eq!(eval("-9223372036854775808 + 1 < 0"), Ok(Value::Bool(true)));
        assert_eq!(
            eval("a.b_c"),
            Err(ExprError::new(0, "variable 'a.b_c' is not set"))
        );
    }

    #[test]
    fn type_checking() {
        assert_eq!(check("a > 5 and ok"), Ok(Type::Bool));
        assert_eq!(check("a + 1"), Ok(Type::Int));
        assert_eq!(check("a + 1.5"), Ok(Type::Decimal));
        assert_eq!(check("amount * 2"), Ok(Type::Decimal));
        assert_eq!(check("'order ' + order_no"), Ok(Type::Text));
        assert_eq!(
            check("'n=' + a + ', ok=' + ok + ', amt=' + amount"),
            Ok(Type::Text)
        );
        assert_eq!(check("-amount"), Ok(Type::Decimal));
        assert_eq!(check("a < amount"), Ok(Type::Bool));
        assert_eq!(check("kind <= 'm'"), Ok(Type::Bool));
        assert_eq!(check("ok == urgent"), Ok(Type::Bool));
        assert_eq!(
            err_at(check("'a' < 3")),
            (5, "cannot compare string with integer".into())
        );
        assert_eq!(
            err_at(check("not 5")),
            (5, "'not' needs a boolean, found integer".into())
        );
        assert_eq!(
            err_at(check("1 and true")),
            (1, "'and' needs a boolean, found integer".into())
        );
        assert_eq!(err_at(check("ok or kind")).0, 7);
        assert_eq!(err_at(check("ok < urgent")).0, 4);
        assert_eq!(
            err_at(check("ok + 1")),
            (4, "cannot apply '+' to boolean and integer".into())
        );
        assert_eq!(err_at(check("kind - 'a'")).0, 6);
        assert_eq!(err_at(check("-kind")).0, 2);
        assert_eq!(
            err_at(check("a > 1 and zz")),
            (11, "unknown variable 'zz'".into())
        );
        assert_eq!(err_at(check("(a > 1) == 2")).0, 9);
    }

    #[test]
    fn evaluation_with_decimals() {
        assert_eq!(eval("0.1 + 0.2 == 0.3"), Ok(Value::Bool(true)));
        assert_eq!(eval("1.5 * 1.5"), Ok(Value::Decimal(2_250_000)));
        assert_eq!(eval("1 / 3.0"), Ok(Value::Decimal(333_333)));
        assert_eq!(eval("-1 / 3.0"), Ok(Value::Decimal(-333_333)));
        assert_eq!(eval("0.000001 * 0.5"), Ok(Value::Decimal(0)));
        assert_eq!(eval("7 / 2"), Ok(Value::Int(3)));
        assert_eq!(eval("-7 / 2"), Ok(Value::Int(-3)));
        assert_eq!(eval("2 == 2.0"), Ok(Value::Bool(true)));
        assert_eq!(eval("amount > 1200.4"), Ok(Value::Bool(true)));
        assert_eq!(eval("amount == 1200.50"), Ok(Value::Bool(true)));
        assert_eq!(eval("amount - 0.5"), Ok(Value::Decimal(1_200_000_000)));
        assert_eq!(
            eval("'order ' + order_no"),
            Ok(Value::Text("order PO-7".into()))
        );
        assert_eq!(
            eval("'' + amount + ' ' + a + ' ' + ok"),
            Ok(Value::Text("1200.5 7 true".into()))
        );
        assert_eq!(eval("'abc' < 'abd'"), Ok(Value::Bool(true)));
        assert_eq!(eval("'B' < 'a'"), Ok(Value::Bool(true)));
        assert_eq!(eval("\"it's\" == 'it\\'s'"), Ok(Value::Bool(true)));
        assert_eq!(eval("'a\\\\b'"), Ok(Value::Text("a\\b".into())));
        assert_eq!(eval("ok != false"), Ok(Value::Bool(true)));
        // Large integers compare exactly with decimals (no overflow on promotion).
        assert_eq!(eval("n > 1.5"), Ok(Value::Bool(true)));
    }

    #[test]
    fn evaluation_errors() {
        assert_eq!(err_at(eval("n + 1")), (3, "arithmetic overflow".into()));
        assert_eq!(err_at(eval("n * 2")).1, "arithmetic overflow");
        assert_eq!(err_at(eval("n + 0.5")).1, "arithmetic overflow");
        assert_eq!(
            err_at(eval("-9223372036854775808 / -1")).1,
            "arithmetic overflow"
        );
        assert_eq!(err_at(eval("-(-9223372036854775808)")).0, 1);
        assert_eq!(
            err_at(eval("9223372036854.775807 * 2")).1,
            "arithmetic overflow"
        );
        assert_eq!(err_at(eval("a / 0")), (3, "division by zero".into()));
        assert_eq!(err_at(eval("a / (b + 3)")).1, "division by zero");
        assert_eq!(err_at(eval("1.5 / 0.0")).1, "division by zero");
        assert_eq!(
            err_at(eval("a > zz")),
            (5, "variable 'zz' is not set".into())
        );
        let long = |_: &str| Some(Value::Text("x".repeat(600)));
        let e = parse("s + s").unwrap().eval(&long).unwrap_err();
        assert_eq!(
            (e.position, e.message.as_str()),
            (2, "string longer than 1024 bytes")
        );
        let huge = |_: &str| Some(Value::Text("x".repeat(MAX_STRING_VALUE_LEN + 1)));
        assert!(parse("s").unwrap().eval(&huge).is_err());
        // Unchecked misuse is an error at evaluation too.
        assert_eq!(err_at(eval("1 and true")).0, 1);
        assert_eq!(err_at(eval("'a' < 3")).0, 5);
        assert_eq!(err_at(eval("true < false")).0, 6);
        assert_eq!(err_at(eval("-'a'")).0, 1);
        // Short-circuit: the unset right side is never read.
        assert_eq!(eval("false and zz"), Ok(Value::Bool(false)));
        assert_eq!(eval("true or zz"), Ok(Value::Bool(true)));
    }

    #[test]
    fn variables_are_sorted_and_unique() {
        let e = parse("b > 1 and a < b or not ok and c.d == 'a'").unwrap();
        assert_eq!(e.variables(), vec!["a", "b", "c.d", "ok"]);
        assert!(parse("1 + 2").unwrap().variables().is_empty());
    }

    #[test]
    fn values_display_and_json() {
        assert_eq!(Value::Decimal(12_500_000).to_string(), "12.5");
        assert_eq!(Value::Decimal(12_000_000).to_string(), "12");
        assert_eq!(Value::Decimal(-1).to_string(), "-0.000001");
        assert_eq!(
            Value::Decimal(i64::MIN).to_string(),
            "-9223372036854.775808"
        );
        assert_eq!(Value::Text("it's".into()).to_string(), "'it\\'s'");
        // Display of text reads back as the same literal.
        let v = Value::Text("a\\'b\"".into());
        assert_eq!(parse(&v.to_string()).unwrap().eval(&|_| None), Ok(v));

        let cases = [
            Value::Int(-42),
            Value::Int(i64::MAX),
            Value::Decimal(12_500_000),
            Value::Decimal(-3),
            Value::Decimal(i64::MIN),
            Value::Decimal(0),
            Value::Text("héllo".into()),
            Value::Bool(true),
        ];
        for v in cases {
            assert_eq!(Value::from_json(v.ty(), &v.to_json()), Ok(v.clone()), "{v}");
        }
        use serde_json::json;
        assert_eq!(Value::Decimal(12_500_000).to_json(), json!("12.5"));
        assert_eq!(
            Value::from_json(Type::Int, &json!("-17")),
            Ok(Value::Int(-17))
        );
        assert_eq!(
            Value::from_json(Type::Decimal, &json!("12.50")),
            Ok(Value::Decimal(12_500_000))
        );
        assert_eq!(
            Value::from_json(Type::Decimal, &json!(3)),
            Ok(Value::Decimal(3_000_000))
        );
        assert_eq!(
            Value::from_json(Type::Decimal, &json!("-0.5")),
            Ok(Value::Decimal(-500_000))
        );
        let e = Value::from_json(Type::Decimal, &json!(1.5)).unwrap_err();
        assert!(
            e.contains("floating point") && e.contains("\"12.50\""),
            "{e}"
        );
        for bad in [
            json!("1.1234567"),
            json!("1."),
            json!(".5"),
            json!("abc"),
            json!("1e3"),
            json!(true),
        ] {
            let e = Value::from_json(Type::Decimal, &bad).unwrap_err();
            assert!(e.contains("decimal"), "{e}");
        }
        assert!(Value::from_json(Type::Decimal, &json!(i64::MAX)).is_err());
        for bad in [
            json!(1.5),
            json!("1.5"),
            json!("x"),
            json!(u64::MAX),
            json!(null),
            json!(""),
        ] {
            let e = Value::from_json(Type::Int, &bad).unwrap_err();
            assert!(e.contains("expected an integer"), "{e}");
        }
        assert!(Value::from_json(Type::Text, &json!(5))
            .unwrap_err()
            .contains("expected a string"));
        assert!(
            Value::from_json(Type::Text, &json!("x".repeat(MAX_STRING_VALUE_LEN + 1))).is_err()
        );
        assert!(Value::from_json(Type::Bool, &json!("true"))
            .unwrap_err()
            .contains("boolean"));
        assert_eq!(
            Value::from_json(Type::Bool, &json!(false)),
            Ok(Value::Bool(false))
        );
    }

    ingot_types::record! {
        /// A stored variable, as other modules keep them.
        pub struct Stored { pub name: String = 64, pub value: Value = () }
    }

    #[test]
    fn field_encoding_round_trips() {
        use commonware_codec::{Decode, Encode};
        let cases = [
            Value::Int(-5),
            Value::Decimal(1_200_500_000),
            Value::Text("PO-7".into()),
            Value::Text(String::new()),
            Value::Bool(false),
        ];
        for value in cases {
            let rec = Stored {
                name: "v".into(),
                value: value.clone(),
            };
            let enc = rec.encode();
            assert_eq!(enc.len(), commonware_codec::EncodeSize::encode_size(&rec));
            assert_eq!(Stored::decode_cfg(enc.clone(), &()).unwrap(), rec);
            for cut in 0..enc.len() {
                assert!(Stored::decode_cfg(enc.slice(..cut), &()).is_err());
            }
        }
        // Layout: tag, then big-endian i64.
        let mut buf = Vec::new();
        Value::Int(258).write_field(&mut buf);
        assert_eq!(buf, [0, 0, 0, 0, 0, 0, 0, 1, 2]);
        let mut bad = bytes::Bytes::from_static(&[9, 0]);
        assert!(matches!(
            Value::read_field(&mut bad, ()),
            Err(CodecError::Invalid(..))
        ));
        let mut long = Vec::new();
        Value::Text("x".repeat(MAX_STRING_VALUE_LEN + 1)).write_field(&mut long);
        assert!(Value::read_field(&mut bytes::Bytes::from(long), ()).is_err());
    }

    fn conds(srcs: &[&str]) -> Vec<Expr> {
        srcs.iter()
            .map(|s| {
                let e = parse(s).unwrap();
                assert_eq!(e.check(&types), Ok(Type::Bool), "{s}");
                e
            })
            .collect()
    }

    fn all_false(srcs: &[&str]) -> Option<Vec<(String, Value)>> {
        find_all_false(&conds(srcs), &types)
    }

    #[test]
    fn exhaustive_conditions_have_no_counterexample() {
        assert_eq!(all_false(&["a > 5", "a <= 5"]), None);
        assert_eq!(all_false(&["ok", "not ok"]), None);
        assert_eq!(all_false(&["amount >= 1000", "amount < 1000.0"]), None);
        assert_eq!(all_false(&["a > 1 or b > 1", "a <= 1", "b <= 1"]), None);
        assert_eq!(all_false(&["kind == 'x'", "kind != 'x'"]), None);
        assert_eq!(all_false(&["-5 < a", "a <= -5"]), None);
        assert_eq!(all_false(&["qty > 2.5", "qty <= 2"]), None);
        assert_eq!(all_false(&["true"]), None);
    }

    #[test]
    fn gaps_are_found() {
        let one = |name: &str, v: Value| Some(vec![(name.to_string(), v)]);
        assert_eq!(all_false(&["a > 5", "a < 5"]), one("a", Value::Int(5)));
        assert_eq!(
            all_false(&["amount > 1000", "amount < 1000"]),
            one("amount", Value::Decimal(1_000_000_000))
        );
        let gap = all_false(&["amount > 0.5", "amount <= 0.499999"]);
        assert_eq!(gap, one("amount", Value::Decimal(500_000)));
        let cex = all_false(&["kind == 'x'", "kind == 'y'"]).unwrap();
        assert_eq!(cex.len(), 1);
        assert!(!matches!(&cex[0].1, Value::Text(s) if s == "x" || s == "y"));
        assert_eq!(all_false(&["ok"]), one("ok", Value::Bool(false)));
        assert_eq!(all_false(&[]), Some(vec![]));
        assert_eq!(all_false(&["false"]), Some(vec![]));
        // Two variables: covered for every a unless urgent is false and a is small.
        let cex = all_false(&["a > 100", "urgent and a <= 100"]).unwrap();
        assert_eq!(
            cex,
            vec![
                ("a".into(), Value::Int(0)),
                ("urgent".into(), Value::Bool(false))
            ]
        );
        let cex = all_false(&["a > 10 and b > 10", "a <= 10", "b < 10"]).unwrap();
        assert_eq!(
            cex,
            vec![("a".into(), Value::Int(11)), ("b".into(), Value::Int(10))]
        );
        // A condition that fails to evaluate counts as false.
        let cex = all_false(&["10 / a > 1", "a > 20"]).unwrap();
        assert_eq!(cex, vec![("a".into(), Value::Int(0))]);
    }

    #[test]
    fn large_products_are_capped() {
        // 12 booleans: 4096 combinations exactly; all false comes first.
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
        let bools = |_: &str| Some(Type::Bool);
        let any = names.join(" or ");
        let e = vec![parse(&any).unwrap()];
        let cex = find_all_false(&e, &bools).unwrap();
        assert!(cex.iter().all(|(_, v)| *v == Value::Bool(false)));
        // The only gap of this one is all true, the 4096th combination.
        let all_true = vec![parse(&format!("not ({})", names.join(" and "))).unwrap()];
        assert_eq!(find_all_false(&all_true, &bools).map(|c| c.len()), Some(12));
        // 13 booleans with the only gap at the very last combination: not reached.
        let thirteen = format!("not ({} and m)", names.join(" and "));
        assert_eq!(find_all_false(&[parse(&thirteen).unwrap()], &bools), None);
    }

    /// Tokens to build random (mostly invalid) expressions from.
    const TOKENS: &[&str] = &[
        "a",
        "b",
        "amount",
        "kind",
        "ok",
        "zz",
        "0",
        "1",
        "7",
        "2.5",
        "0.000001",
        "9223372036854775807",
        "-",
        "+",
        "*",
        "/",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "and",
        "or",
        "not",
        "&&",
        "||",
        "!",
        "(",
        ")",
        "true",
        "false",
        "'x'",
        "\"y\"",
        "'",
        "\\",
        "${",
        "}",
        ".",
        "=",
        ">>",
        "é",
    ];

    fn poke(src: &str) {
        if let Ok(e) = parse(src) {
            let _ = e.check(&types);
            let _ = e.eval(&values);
            let _ = e.variables();
            let _ = find_all_false(std::slice::from_ref(&e), &types);
        }
    }

    /// Syntactically valid expressions (not necessarily well typed).
    fn well_formed() -> impl Strategy<Value = String> {
        let fixed = prop::sample::select(vec![
            "a",
            "b",
            "n",
            "amount",
            "kind",
            "ok",
            "urgent",
            "zz",
            "0",
            "1",
            "-1",
            "0.5",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854.775807",
            "'x'",
            "''",
            "true",
            "false",
        ]);
        let leaf = prop_oneof![
            fixed.prop_map(String::from),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<i64>().prop_map(|d| Value::Decimal(d).to_string()),
        ];
        let ops = prop::sample::select(vec![
            "+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">=", "and", "or", "&&", "||",
        ]);
        leaf.prop_recursive(6, 48, 2, move |inner| {
            prop_oneof![
                (inner.clone(), ops.clone(), inner.clone())
                    .prop_map(|(l, op, r)| format!("({l} {op} {r})")),
                inner.clone().prop_map(|e| format!("(not ({e}))")),
                inner.prop_map(|e| format!("(-({e}))")),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(src in "\\PC{0,80}") {
            poke(&src);
        }

        #[test]
        fn expression_like_strings_never_panic(src in "[-a-z0-9 ()'\"\\\\.+*/<>=!&|${}]{0,80}") {
            poke(&src);
        }

        #[test]
        fn token_sequences_never_panic(picks in proptest::collection::vec(0..TOKENS.len(), 0..60), glue in any::<bool>()) {
            let words: Vec<&str> = picks.iter().filter_map(|&i| TOKENS.get(i).copied()).collect();
            poke(&words.join(if glue { "" } else { " " }));
        }

        #[test]
        fn checked_types_are_what_evaluation_gives(src in well_formed()) {
            let e = parse(&src).unwrap();
            let checked = e.check(&types);
            if let (Ok(t), Ok(v)) = (&checked, e.eval(&values)) {
                prop_assert_eq!(*t, v.ty(), "{}", src);
            }
            if checked == Ok(Type::Bool) {
                let conditions = [e];
                if let Some(cex) = find_all_false(&conditions, &types) {
                    let lookup = |name: &str| {
                        cex.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
                    };
                    prop_assert_ne!(conditions[0].eval(&lookup), Ok(Value::Bool(true)));
                }
            }
        }

        #[test]
        fn sum_comparison_matches_rust(a in -1000i64..1000, b in -1000i64..1000, c in -2000i64..2000) {
            let e = parse("a + b > c").unwrap();
            let vars = |name: &str| match name {
                "a" => Some(Value::Int(a)),
                "b" => Some(Value::Int(b)),
                "c" => Some(Value::Int(c)),
                _ => None,
            };
            prop_assert_eq!(e.eval(&vars), Ok(Value::Bool(a + b > c)));
        }

        #[test]
        fn decimal_json_round_trips(d in any::<i64>()) {
            let v = Value::Decimal(d);
            prop_assert_eq!(Value::from_json(Type::Decimal, &v.to_json()), Ok(v.clone()));
            // Display is also a valid literal (negatives via unary minus).
            prop_assert_eq!(parse(&v.to_string()).unwrap().eval(&|_| None), Ok(v));
        }
    }
}
