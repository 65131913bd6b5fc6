//! xml-rpc codec: request bodies become [`MethodCall`]s, [`MethodResponse`]s become bytes, and
//! back again for the demo client and tests; knows nothing about pingback, pure, no i/o
//!
//! invariant: input is never trusted; a doctype, a processing instruction, an unknown entity,
//! nesting deeper than [`MAX_DEPTH`] or more than [`MAX_ELEMENTS`] elements is refused while the
//! element tree is built, before any value exists, and the only recursion walks that checked tree
//!
//! encodings: utf-8 (the default, with or without a byte order mark), utf-16 (by byte order
//! mark or by the `\0<` / `<\0` pattern xml's appendix f describes), and whatever an xml
//! declaration names by any whatwg label, decoded by encoding_rs (so iso-8859-1 is read as
//! windows-1252, as browsers do); bytes the encoding cannot hold are
//! [`DecodeError::InvalidUtf8`] or [`DecodeError::InvalidBytes`] (-32700), and an unknown label,
//! one whatwg maps to its replacement encoding, or utf-32 is
//! [`DecodeError::UnsupportedEncoding`] (-32701)

use std::borrow::Cow;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use encoding_rs::{Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE};
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

/// deepest element nesting accepted, counting the root as 1; a call's top-level value sits at 4
/// and each struct or array level adds 3, so about nine levels of nested values fit, far more
/// than any real caller needs, while recursion over the tree stays shallow
pub const MAX_DEPTH: usize = 32;

/// most elements accepted in one document, the limit WordPress applies since 4.0
/// (`xmlrpc_element_limit`); stops element floods long before memory matters
pub const MAX_ELEMENTS: usize = 30_000;

/// interop fault code: parse error, not well formed (xmlrpc-epi fault code spec 20010516)
pub const PARSE_ERROR: i32 = -32700;
/// interop fault code: parse error, unsupported encoding
pub const UNSUPPORTED_ENCODING: i32 = -32701;
/// interop fault code: server error, invalid xml-rpc, not conforming to spec
pub const INVALID_XMLRPC: i32 = -32600;
/// interop fault code: server error, requested method not found
pub const METHOD_NOT_FOUND: i32 = -32601;
/// interop fault code: server error, invalid method parameters
pub const INVALID_PARAMS: i32 = -32602;
/// interop fault code: server error, internal xml-rpc error
pub const INTERNAL_ERROR: i32 = -32603;

/// longest piece of input (an element or entity name) ever copied into an error message
const MAX_NAME_IN_ERROR: usize = 32;

/// one xml-rpc value
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>` or `<i4>`
    Int(i32),
    /// `<i8>` (extension, also read as `<ex:i8>`)
    I8(i64),
    /// `<boolean>`, read from 0/1/true/false, written as 0/1
    Bool(bool),
    /// `<string>` or an untyped `<value>`, never trimmed
    String(String),
    /// `<double>`, always finite when decoded
    Double(f64),
    /// `<dateTime.iso8601>` kept exactly as sent (validated loosely, never timezone-shifted)
    DateTime(String),
    /// `<base64>`, already decoded
    Base64(Vec<u8>),
    /// `<struct>` members in document order; on duplicate names [`Value::member`] returns the last
    Struct(Vec<(String, Value)>),
    /// `<array><data>`
    Array(Vec<Value>),
    /// `<nil/>` (extension, also read as `<ex:nil/>`)
    Nil,
}

impl Value {
    /// the text of a string value
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// an int, or an i8 that fits in 32 bits
    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Self::Int(i) => Some(*i),
            Self::I8(i) => i32::try_from(*i).ok(),
            _ => None,
        }
    }

    /// an int or an i8
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(i64::from(*i)),
            Self::I8(i) => Some(*i),
            _ => None,
        }
    }

    /// a boolean
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// a double
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// the bytes of a base64 value
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Base64(b) => Some(b),
            _ => None,
        }
    }

    /// the text of a datetime value, as sent
    pub fn as_datetime(&self) -> Option<&str> {
        match self {
            Self::DateTime(s) => Some(s),
            _ => None,
        }
    }

    /// the elements of an array
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// the members of a struct, in document order
    pub fn as_struct(&self) -> Option<&[(String, Value)]> {
        match self {
            Self::Struct(members) => Some(members),
            _ => None,
        }
    }

    /// the struct member called `name`; the last one wins when a name repeats
    pub fn member(&self, name: &str) -> Option<&Value> {
        self.as_struct()?
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// whether this is nil
    pub fn is_nil(&self) -> bool {
        matches!(self, Self::Nil)
    }

    /// the xml-rpc type name, as introspection signatures spell it
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Int(_) => "int",
            Self::I8(_) => "i8",
            Self::Bool(_) => "boolean",
            Self::String(_) => "string",
            Self::Double(_) => "double",
            Self::DateTime(_) => "dateTime.iso8601",
            Self::Base64(_) => "base64",
            Self::Struct(_) => "struct",
            Self::Array(_) => "array",
            Self::Nil => "nil",
        }
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Self::Int(i)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::I8(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Self::Double(d)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Self::Array(items)
    }
}

/// a decoded `<methodCall>`
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// the method name, matching `[A-Za-z0-9_.:/]+` when decoded
    pub method_name: String,
    /// the parameters in order; empty when `<params>` is absent
    pub params: Vec<Value>,
}

/// an xml-rpc fault: the only two members a fault struct may carry
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// `faultCode`
    pub code: i32,
    /// `faultString`
    pub message: String,
}

impl Fault {
    /// a fault with this code and message
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<&DecodeError> for Fault {
    /// the fault to answer an undecodable request with; the message never quotes the body
    fn from(err: &DecodeError) -> Self {
        Self::new(err.fault_code(), err.to_string())
    }
}

/// a `<methodResponse>`: exactly one value, or a fault
#[derive(Debug, Clone, PartialEq)]
pub enum MethodResponse {
    /// `<params><param><value>`
    Success(Value),
    /// `<fault>`
    Fault(Fault),
}

impl From<Fault> for MethodResponse {
    fn from(fault: Fault) -> Self {
        Self::Fault(fault)
    }
}

/// why a body is not an acceptable xml-rpc document; messages are short and never quote the
/// body beyond a truncated element or entity name
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// xml syntax error or broken document structure (-32700)
    #[error("not well-formed xml at byte {position}: {reason}")]
    NotWellFormed {
        /// byte offset in the utf-8 text
        position: u64,
        /// what is wrong, a fixed phrase
        reason: &'static str,
    },
    /// bytes that are not utf-8 in a utf-8 document (-32700)
    #[error("invalid utf-8 at byte {position}")]
    InvalidUtf8 {
        /// byte offset of the first bad byte
        position: u64,
    },
    /// bytes that are not valid in the document's declared or marked encoding, other than
    /// utf-8 (-32700)
    #[error("invalid {encoding} byte sequence")]
    InvalidBytes {
        /// the encoding's canonical name, as encoding_rs spells it
        encoding: &'static str,
    },
    /// a declared encoding or byte order mark we do not read (-32701)
    #[error("unsupported encoding {encoding}")]
    UnsupportedEncoding {
        /// the declared label, truncated
        encoding: String,
    },
    /// a `<!DOCTYPE`; xml-rpc never needs one and it is how entity bombs get in (-32700)
    #[error("doctype declarations are not allowed")]
    DoctypeForbidden,
    /// a processing instruction other than the xml declaration (-32700)
    #[error("processing instructions are not allowed")]
    ProcessingInstructionForbidden,
    /// a named entity other than the five predefined ones (-32700)
    #[error("unknown entity &{name};")]
    UnknownEntity {
        /// the entity name, truncated
        name: String,
    },
    /// elements nested deeper than [`MAX_DEPTH`] (-32700)
    #[error("elements nested deeper than {max}")]
    TooDeep {
        /// the limit
        max: usize,
    },
    /// more than [`MAX_ELEMENTS`] elements (-32700)
    #[error("more than {max} elements")]
    TooManyElements {
        /// the limit
        max: usize,
    },
    /// the root element is not `<methodCall>` (-32600)
    #[error("root element is <{found}>, not <methodCall>")]
    NotAMethodCall {
        /// the root element's name, truncated
        found: String,
    },
    /// the root element is not `<methodResponse>` (-32600)
    #[error("root element is <{found}>, not <methodResponse>")]
    NotAMethodResponse {
        /// the root element's name, truncated
        found: String,
    },
    /// an element where the grammar does not allow it (-32600)
    #[error("unexpected element <{found}> in <{parent}>")]
    UnexpectedElement {
        /// the element's name, truncated
        found: String,
        /// where it was found
        parent: &'static str,
    },
    /// a required element is absent (-32600)
    #[error("missing <{name}> in <{parent}>")]
    MissingElement {
        /// the element that should be there
        name: &'static str,
        /// where it should be
        parent: &'static str,
    },
    /// non-whitespace text between elements that only hold elements (-32600)
    #[error("unexpected text in <{parent}>")]
    UnexpectedText {
        /// where it was found
        parent: &'static str,
    },
    /// a method name outside `[A-Za-z0-9_.:/]+` (-32600)
    #[error("method name must match [A-Za-z0-9_.:/]+")]
    InvalidMethodName,
    /// a child of `<value>` that is no xml-rpc type (-32600)
    #[error("unknown value type <{found}>")]
    UnknownType {
        /// the element's name, truncated
        found: String,
    },
    /// a typed value whose text does not fit its type, such as `<int>abc</int>` (-32600)
    #[error("invalid {type_name} value")]
    InvalidValue {
        /// the type, or `fault` for a fault struct without an int code and a string message
        type_name: &'static str,
    },
}

impl DecodeError {
    /// the interop fault code: [`PARSE_ERROR`] for anything that is not well-formed xml
    /// (including doctype, entities, bad utf-8 and the size limits), [`UNSUPPORTED_ENCODING`]
    /// for encodings, and [`INVALID_XMLRPC`] for well-formed xml that is no valid xml-rpc
    pub fn fault_code(&self) -> i32 {
        match self {
            Self::NotWellFormed { .. }
            | Self::InvalidUtf8 { .. }
            | Self::InvalidBytes { .. }
            | Self::DoctypeForbidden
            | Self::ProcessingInstructionForbidden
            | Self::UnknownEntity { .. }
            | Self::TooDeep { .. }
            | Self::TooManyElements { .. } => PARSE_ERROR,
            Self::UnsupportedEncoding { .. } => UNSUPPORTED_ENCODING,
            Self::NotAMethodCall { .. }
            | Self::NotAMethodResponse { .. }
            | Self::UnexpectedElement { .. }
            | Self::MissingElement { .. }
            | Self::UnexpectedText { .. }
            | Self::InvalidMethodName
            | Self::UnknownType { .. }
            | Self::InvalidValue { .. } => INVALID_XMLRPC,
        }
    }
}

/// decodes a `<methodCall>` request body
pub fn decode_call(body: &[u8]) -> Result<MethodCall, DecodeError> {
    let root = parse_document(body)?;
    call_from_tree(&root)
}

/// decodes a `<methodResponse>` body
pub fn decode_response(body: &[u8]) -> Result<MethodResponse, DecodeError> {
    let root = parse_document(body)?;
    response_from_tree(&root)
}

/// encodes a call as a full utf-8 document; the method name is written as given, so one outside
/// `[A-Za-z0-9_.:/]+` will be refused by [`decode_call`]
pub fn encode_call(call: &MethodCall) -> Vec<u8> {
    let mut out = String::from(XML_DECL);
    out.push_str("<methodCall><methodName>");
    push_escaped(&mut out, &call.method_name);
    out.push_str("</methodName><params>");
    for param in &call.params {
        out.push_str("<param>");
        push_value(&mut out, param);
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>\n");
    out.into_bytes()
}

/// encodes a response as a full utf-8 document; what xml-rpc cannot carry is replaced, never
/// refused: non-finite doubles become 0.0 and characters xml 1.0 forbids become U+FFFD
pub fn encode_response(resp: &MethodResponse) -> Vec<u8> {
    let mut out = String::from(XML_DECL);
    out.push_str("<methodResponse>");
    match resp {
        MethodResponse::Success(value) => {
            out.push_str("<params><param>");
            push_value(&mut out, value);
            out.push_str("</param></params>");
        }
        MethodResponse::Fault(fault) => {
            out.push_str("<fault><value><struct><member><name>faultCode</name><value><int>");
            out.push_str(&fault.code.to_string());
            out.push_str("</int></value></member><member><name>faultString</name><value><string>");
            push_escaped(&mut out, &fault.message);
            out.push_str("</string></value></member></struct></value></fault>");
        }
    }
    out.push_str("</methodResponse>\n");
    out.into_bytes()
}

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// writes `<value>…</value>`; recursion follows the caller's own value, which we built
fn push_value(out: &mut String, value: &Value) {
    out.push_str("<value>");
    match value {
        Value::Int(i) => {
            out.push_str("<int>");
            out.push_str(&i.to_string());
            out.push_str("</int>");
        }
        Value::I8(i) => {
            out.push_str("<i8>");
            out.push_str(&i.to_string());
            out.push_str("</i8>");
        }
        Value::Bool(b) => out.push_str(if *b {
            "<boolean>1</boolean>"
        } else {
            "<boolean>0</boolean>"
        }),
        Value::String(s) => {
            out.push_str("<string>");
            push_escaped(out, s);
            out.push_str("</string>");
        }
        Value::Double(d) => {
            out.push_str("<double>");
            out.push_str(&format_double(*d));
            out.push_str("</double>");
        }
        Value::DateTime(s) => {
            out.push_str("<dateTime.iso8601>");
            push_escaped(out, s);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Base64(bytes) => {
            out.push_str("<base64>");
            out.push_str(&STANDARD.encode(bytes));
            out.push_str("</base64>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (name, member) in members {
                out.push_str("<member><name>");
                push_escaped(out, name);
                out.push_str("</name>");
                push_value(out, member);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for item in items {
                push_value(out, item);
            }
            out.push_str("</data></array>");
        }
        Value::Nil => out.push_str("<nil/>"),
    }
    out.push_str("</value>");
}

/// plain decimal with at least one fractional digit, never an exponent (the spec allows none);
/// rust's `Display` for f64 is the shortest text that reads back to the same number and never
/// uses an exponent; nan and infinities have no xml-rpc form and are written as 0.0
fn format_double(d: f64) -> String {
    if !d.is_finite() {
        return "0.0".to_owned();
    }
    let mut s = d.to_string();
    if !s.contains('.') {
        s.push_str(".0");
    }
    s
}

/// escapes text content: `&`, `<`, `>` as entities, carriage return as `&#13;` so it survives
/// end-of-line normalisation, and characters xml 1.0 forbids as U+FFFD
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
}

/// the xml 1.0 `Char` production
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_xml_whitespace(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// at most [`MAX_NAME_IN_ERROR`] characters of a name taken from the input
fn short(name: &str) -> String {
    name.chars().take(MAX_NAME_IN_ERROR).collect()
}

fn not_well_formed(position: u64, reason: &'static str) -> DecodeError {
    DecodeError::NotWellFormed { position, reason }
}

// ---- bytes to text -------------------------------------------------------------------------

/// the body as utf-8 text: a byte order mark or utf-16's own byte pattern decides the encoding,
/// else the xml declaration's label (any whatwg label, via encoding_rs), else utf-8; bytes the
/// encoding cannot hold are an error, never replaced
fn to_utf8(body: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
    if [
        &b"\0\0\xFE\xFF"[..],
        b"\xFF\xFE\0\0",
        b"\0\0\0<",
        b"<\0\0\0",
    ]
    .iter()
    .any(|prefix| body.starts_with(prefix))
    {
        return Err(DecodeError::UnsupportedEncoding {
            encoding: "utf-32".to_owned(),
        });
    }
    // the mark or pattern outranks the declaration, which is still parsed (after decoding)
    // with the rest of the document
    let (encoding, text) = match Encoding::for_bom(body) {
        Some((encoding, bom_length)) => (encoding, &body[bom_length..]),
        None if body.starts_with(b"\0<") => (UTF_16BE, body),
        None if body.starts_with(b"<\0") => (UTF_16LE, body),
        None => (declared_encoding(body)?, body),
    };
    if encoding == UTF_8 {
        return std::str::from_utf8(text).map(Cow::Borrowed).map_err(|e| {
            DecodeError::InvalidUtf8 {
                position: e.valid_up_to() as u64,
            }
        });
    }
    encoding
        .decode_without_bom_handling_and_without_replacement(text)
        .ok_or(DecodeError::InvalidBytes {
            encoding: encoding.name(),
        })
}

/// the encoding named by an xml declaration at the very start, utf-8 when there is none; the
/// declaration is ascii in every encoding read this way, so quick-xml can parse it before the
/// encoding is known
fn declared_encoding(body: &[u8]) -> Result<&'static Encoding, DecodeError> {
    let mut reader = Reader::from_reader(body);
    let label = match reader.read_event() {
        Ok(Event::Decl(decl)) => match decl.encoding() {
            Some(Ok(label)) => label.into_owned(),
            // a malformed declaration is reported by the full parse
            Some(Err(_)) | None => return Ok(UTF_8),
        },
        _ => return Ok(UTF_8),
    };
    match Encoding::for_label(label.as_bytes()) {
        // labels like iso-2022-kr that whatwg maps to its replacement encoding name no encoding
        // anyone can decode
        Some(encoding) if encoding != REPLACEMENT => {
            // a document whose declaration reads as ascii is not utf-16, whatever it says
            Ok(encoding.output_encoding())
        }
        _ => Err(DecodeError::UnsupportedEncoding {
            encoding: short(&label),
        }),
    }
}

// ---- text to a checked element tree ----------------------------------------------------------

/// element names we know; anything else keeps its (truncated) name for error messages
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tag {
    MethodCall,
    MethodResponse,
    MethodName,
    Params,
    Param,
    Fault,
    Value,
    Int,
    I4,
    I8,
    Boolean,
    String,
    Double,
    DateTime,
    Base64,
    Struct,
    Member,
    Name,
    Array,
    Data,
    Nil,
    Other(String),
}

impl Tag {
    fn from_name(name: &str) -> Self {
        match name {
            "methodCall" => Self::MethodCall,
            "methodResponse" => Self::MethodResponse,
            "methodName" => Self::MethodName,
            "params" => Self::Params,
            "param" => Self::Param,
            "fault" => Self::Fault,
            "value" => Self::Value,
            "int" => Self::Int,
            "i4" => Self::I4,
            "i8" => Self::I8,
            "boolean" => Self::Boolean,
            "string" => Self::String,
            "double" => Self::Double,
            "dateTime.iso8601" => Self::DateTime,
            "base64" => Self::Base64,
            "struct" => Self::Struct,
            "member" => Self::Member,
            "name" => Self::Name,
            "array" => Self::Array,
            "data" => Self::Data,
            "nil" => Self::Nil,
            // apache xml-rpc writes its extensions with a namespace prefix: <ex:nil/>, <ex:i8>
            _ => match name.split_once(':') {
                Some((_, "nil")) => Self::Nil,
                Some((_, "i8")) => Self::I8,
                _ => Self::Other(short(name)),
            },
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Other(name) => name,
            known => known.static_name(),
        }
    }

    fn static_name(&self) -> &'static str {
        match self {
            Self::MethodCall => "methodCall",
            Self::MethodResponse => "methodResponse",
            Self::MethodName => "methodName",
            Self::Params => "params",
            Self::Param => "param",
            Self::Fault => "fault",
            Self::Value => "value",
            Self::Int => "int",
            Self::I4 => "i4",
            Self::I8 => "i8",
            Self::Boolean => "boolean",
            Self::String => "string",
            Self::Double => "double",
            Self::DateTime => "dateTime.iso8601",
            Self::Base64 => "base64",
            Self::Struct => "struct",
            Self::Member => "member",
            Self::Name => "name",
            Self::Array => "array",
            Self::Data => "data",
            Self::Nil => "nil",
            Self::Other(_) => "unknown",
        }
    }
}

/// an element of the checked tree; adjacent text, cdata and references are merged into one
/// text node and comments dropped, so an element holding only text has at most one child
#[derive(Debug)]
struct Elem {
    tag: Tag,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Elem(Elem),
    Text(String),
}

fn parse_document(body: &[u8]) -> Result<Elem, DecodeError> {
    let text = to_utf8(body)?;
    if let Some((position, _)) = text.char_indices().find(|&(_, c)| !is_xml_char(c)) {
        return Err(not_well_formed(
            position as u64,
            "character not allowed in xml",
        ));
    }
    build_tree(text.as_bytes())
}

/// pulls events off quick-xml and builds the tree without recursion, enforcing well-formedness,
/// [`MAX_DEPTH`] and [`MAX_ELEMENTS`] as it goes
fn build_tree(xml: &[u8]) -> Result<Elem, DecodeError> {
    let mut reader = Reader::from_reader(xml);
    let config = reader.config_mut();
    config.trim_text(false);
    config.enable_all_checks(true);
    config.expand_empty_elements = false;
    config.allow_dangling_amp = false;
    config.allow_unmatched_ends = false;

    let mut stack: Vec<Elem> = Vec::new();
    let mut root: Option<Elem> = None;
    let mut elements = 0usize;
    let mut first = true;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => return Err(from_xml_error(&err, reader.error_position())),
        };
        let position = reader.buffer_position();
        let is_first = std::mem::replace(&mut first, false);
        match event {
            Event::Decl(_) if is_first => {}
            Event::Decl(_) => {
                return Err(not_well_formed(
                    position,
                    "xml declaration not at the start",
                ));
            }
            Event::PI(_) => return Err(DecodeError::ProcessingInstructionForbidden),
            Event::DocType(_) => return Err(DecodeError::DoctypeForbidden),
            Event::Comment(_) => {}
            Event::Start(start) => {
                let elem = open_element(&start, &stack, root.is_some(), &mut elements, position)?;
                stack.push(elem);
            }
            Event::Empty(start) => {
                let elem = open_element(&start, &stack, root.is_some(), &mut elements, position)?;
                close_element(elem, &mut stack, &mut root);
            }
            Event::End(_) => {
                // quick-xml has already matched the name against the open element
                let elem = stack
                    .pop()
                    .ok_or_else(|| not_well_formed(position, "unmatched end tag"))?;
                close_element(elem, &mut stack, &mut root);
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                match stack.last_mut() {
                    Some(parent) => push_text(parent, &content),
                    None if is_xml_whitespace(&content) => {}
                    None => return Err(not_well_formed(position, "text outside the root element")),
                }
            }
            Event::CData(data) => {
                let parent = stack
                    .last_mut()
                    .ok_or_else(|| not_well_formed(position, "cdata outside the root element"))?;
                push_text(parent, &data.xml10_content());
            }
            Event::GeneralRef(reference) => {
                let c = resolve_reference(&reference, position)?;
                let parent = stack.last_mut().ok_or_else(|| {
                    not_well_formed(position, "reference outside the root element")
                })?;
                push_text(parent, c.encode_utf8(&mut [0; 4]));
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(not_well_formed(
            reader.buffer_position(),
            "unexpected end of input",
        ));
    }
    root.ok_or_else(|| not_well_formed(reader.buffer_position(), "no root element"))
}

fn open_element(
    start: &BytesStart<'_>,
    stack: &[Elem],
    have_root: bool,
    elements: &mut usize,
    position: u64,
) -> Result<Elem, DecodeError> {
    if stack.is_empty() && have_root {
        return Err(not_well_formed(position, "content after the root element"));
    }
    *elements += 1;
    if *elements > MAX_ELEMENTS {
        return Err(DecodeError::TooManyElements { max: MAX_ELEMENTS });
    }
    if stack.len() + 1 > MAX_DEPTH {
        return Err(DecodeError::TooDeep { max: MAX_DEPTH });
    }
    // attributes carry nothing in xml-rpc (apache puts xmlns:ex on the root), but they must
    // still be well-formed
    for attribute in start.attributes() {
        attribute.map_err(|_| not_well_formed(position, "malformed attribute"))?;
    }
    Ok(Elem {
        tag: Tag::from_name(start.name().into_inner()),
        children: Vec::new(),
    })
}

fn close_element(elem: Elem, stack: &mut [Elem], root: &mut Option<Elem>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Elem(elem)),
        None => *root = Some(elem),
    }
}

fn push_text(parent: &mut Elem, text: &str) {
    if text.is_empty() {
        return;
    }
    match parent.children.last_mut() {
        Some(Node::Text(existing)) => existing.push_str(text),
        _ => parent.children.push(Node::Text(text.to_owned())),
    }
}

/// the five predefined entities and character references to characters xml allows; there is
/// no doctype, so no other entity can exist
fn resolve_reference(reference: &BytesRef<'_>, position: u64) -> Result<char, DecodeError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) if is_xml_char(c) => Ok(c),
            _ => Err(not_well_formed(position, "invalid character reference")),
        };
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        name => Err(DecodeError::UnknownEntity { name: short(name) }),
    }
}

/// maps quick-xml's errors to fixed phrases: its own messages can quote element names of any
/// length from the body
fn from_xml_error(err: &quick_xml::Error, position: u64) -> DecodeError {
    use quick_xml::errors::{IllFormedError, SyntaxError};
    let reason = match err {
        quick_xml::Error::Encoding(_) => return DecodeError::InvalidUtf8 { position },
        quick_xml::Error::Syntax(syntax) => match syntax {
            SyntaxError::InvalidBangMarkup => "unknown markup after <!",
            SyntaxError::UnclosedPI => "unclosed processing instruction",
            SyntaxError::UnclosedXmlDecl => "unclosed xml declaration",
            SyntaxError::UnclosedComment => "unclosed comment",
            SyntaxError::UnclosedDoctype => "unclosed doctype",
            SyntaxError::UnclosedCData => "unclosed cdata",
            SyntaxError::UnclosedTag => "unclosed tag",
            SyntaxError::UnclosedSingleQuotedAttributeValue
            | SyntaxError::UnclosedDoubleQuotedAttributeValue => "unclosed attribute value",
        },
        quick_xml::Error::IllFormed(ill) => match ill {
            IllFormedError::MissingDeclVersion(_) => "xml declaration without version",
            IllFormedError::UnknownVersion => "unknown xml version",
            IllFormedError::MissingDoctypeName => return DecodeError::DoctypeForbidden,
            IllFormedError::MissingEndTag(_) => "missing end tag",
            IllFormedError::UnmatchedEndTag(_) => "unmatched end tag",
            IllFormedError::MismatchedEndTag { .. } => "mismatched end tag",
            IllFormedError::DoubleHyphenInComment => "double hyphen in comment",
            IllFormedError::UnclosedReference => "unclosed reference",
        },
        quick_xml::Error::InvalidAttr(_) => "malformed attribute",
        quick_xml::Error::Escape(_) => "invalid reference",
        quick_xml::Error::Namespace(_) => "namespace error",
        quick_xml::Error::Io(_) => "read error",
    };
    not_well_formed(position, reason)
}

// ---- checked tree to values ------------------------------------------------------------------

fn call_from_tree(root: &Elem) -> Result<MethodCall, DecodeError> {
    if root.tag != Tag::MethodCall {
        return Err(DecodeError::NotAMethodCall {
            found: root.tag.name().to_owned(),
        });
    }
    let mut method_name = None;
    let mut params = None;
    for child in child_elements(root)? {
        match child.tag {
            Tag::MethodName if method_name.is_none() => method_name = Some(child),
            Tag::Params if params.is_none() => params = Some(child),
            _ => return Err(unexpected(child, root)),
        }
    }
    let method_name = method_name.ok_or(DecodeError::MissingElement {
        name: "methodName",
        parent: "methodCall",
    })?;
    let method_name = parse_method_name(text_of(method_name)?)?;
    let params = match params {
        Some(params) => parse_params(params)?,
        None => Vec::new(),
    };
    Ok(MethodCall {
        method_name,
        params,
    })
}

/// surrounding whitespace is forgiven; inside, only the spec's characters
fn parse_method_name(text: &str) -> Result<String, DecodeError> {
    let name = text.trim_matches([' ', '\t', '\n', '\r']);
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/');
    if name.is_empty() || !name.bytes().all(allowed) {
        return Err(DecodeError::InvalidMethodName);
    }
    Ok(name.to_owned())
}

fn parse_params(params: &Elem) -> Result<Vec<Value>, DecodeError> {
    child_elements(params)?
        .into_iter()
        .map(|param| match param.tag {
            Tag::Param => parse_value(single_value(param)?),
            _ => Err(unexpected(param, params)),
        })
        .collect()
}

fn response_from_tree(root: &Elem) -> Result<MethodResponse, DecodeError> {
    if root.tag != Tag::MethodResponse {
        return Err(DecodeError::NotAMethodResponse {
            found: root.tag.name().to_owned(),
        });
    }
    let children = child_elements(root)?;
    let [child] = children.as_slice() else {
        return Err(match children.get(1) {
            Some(extra) => unexpected(extra, root),
            None => DecodeError::MissingElement {
                name: "params",
                parent: "methodResponse",
            },
        });
    };
    match child.tag {
        Tag::Params => {
            let mut values = parse_params(child)?;
            if values.len() > 1 {
                return Err(DecodeError::UnexpectedElement {
                    found: "param".to_owned(),
                    parent: "params",
                });
            }
            let value = values.pop().ok_or(DecodeError::MissingElement {
                name: "param",
                parent: "params",
            })?;
            Ok(MethodResponse::Success(value))
        }
        Tag::Fault => {
            let value = parse_value(single_value(child)?)?;
            let invalid = DecodeError::InvalidValue { type_name: "fault" };
            let code = value
                .member("faultCode")
                .and_then(Value::as_i32)
                .ok_or_else(|| invalid.clone())?;
            let message = value
                .member("faultString")
                .and_then(Value::as_str)
                .ok_or(invalid)?;
            Ok(MethodResponse::Fault(Fault::new(code, message)))
        }
        _ => Err(unexpected(child, root)),
    }
}

/// the one `<value>` inside a `<param>` or `<fault>`
fn single_value(wrapper: &Elem) -> Result<&Elem, DecodeError> {
    let mut value = None;
    for child in child_elements(wrapper)? {
        match child.tag {
            Tag::Value if value.is_none() => value = Some(child),
            _ => return Err(unexpected(child, wrapper)),
        }
    }
    value.ok_or(DecodeError::MissingElement {
        name: "value",
        parent: wrapper.tag.static_name(),
    })
}

/// a `<value>`: one typed child with only whitespace around it, or else its text as a string
fn parse_value(value: &Elem) -> Result<Value, DecodeError> {
    let mut typed = None;
    let mut text = "";
    let mut only_whitespace = true;
    for child in &value.children {
        match child {
            Node::Text(t) => {
                text = t;
                only_whitespace &= is_xml_whitespace(t);
            }
            Node::Elem(e) if typed.is_none() => typed = Some(e),
            Node::Elem(e) => return Err(unexpected(e, value)),
        }
    }
    let Some(typed) = typed else {
        return Ok(Value::String(text.to_owned()));
    };
    if !only_whitespace {
        return Err(DecodeError::UnexpectedText { parent: "value" });
    }
    let invalid = || DecodeError::InvalidValue {
        type_name: typed.tag.static_name(),
    };
    match typed.tag {
        Tag::Int | Tag::I4 => text_of(typed)?
            .parse()
            .map(Value::Int)
            .map_err(|_| invalid()),
        Tag::I8 => text_of(typed)?
            .parse()
            .map(Value::I8)
            .map_err(|_| invalid()),
        Tag::Boolean => parse_bool(text_of(typed)?)
            .map(Value::Bool)
            .ok_or_else(invalid),
        Tag::String => Ok(Value::String(text_of(typed)?.to_owned())),
        Tag::Double => parse_double(text_of(typed)?)
            .map(Value::Double)
            .ok_or_else(invalid),
        Tag::DateTime => {
            let text = text_of(typed)?;
            if is_datetime(text) {
                Ok(Value::DateTime(text.to_owned()))
            } else {
                Err(invalid())
            }
        }
        Tag::Base64 => {
            let cleaned: Vec<u8> = text_of(typed)?
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            BASE64_LENIENT
                .decode(cleaned)
                .map(Value::Base64)
                .map_err(|_| invalid())
        }
        Tag::Struct => parse_struct(typed),
        Tag::Array => parse_array(typed),
        Tag::Nil => {
            if is_xml_whitespace(text_of(typed)?) {
                Ok(Value::Nil)
            } else {
                Err(invalid())
            }
        }
        _ => Err(DecodeError::UnknownType {
            found: typed.tag.name().to_owned(),
        }),
    }
}

fn parse_struct(elem: &Elem) -> Result<Value, DecodeError> {
    let mut members = Vec::new();
    for member in child_elements(elem)? {
        if member.tag != Tag::Member {
            return Err(unexpected(member, elem));
        }
        let mut name = None;
        let mut value = None;
        for child in child_elements(member)? {
            match child.tag {
                Tag::Name if name.is_none() => name = Some(text_of(child)?),
                Tag::Value if value.is_none() => value = Some(child),
                _ => return Err(unexpected(child, member)),
            }
        }
        let missing = |name| DecodeError::MissingElement {
            name,
            parent: "member",
        };
        let name = name.ok_or_else(|| missing("name"))?;
        let value = value.ok_or_else(|| missing("value"))?;
        members.push((name.to_owned(), parse_value(value)?));
    }
    Ok(Value::Struct(members))
}

fn parse_array(elem: &Elem) -> Result<Value, DecodeError> {
    let mut data = None;
    for child in child_elements(elem)? {
        match child.tag {
            Tag::Data if data.is_none() => data = Some(child),
            _ => return Err(unexpected(child, elem)),
        }
    }
    let data = data.ok_or(DecodeError::MissingElement {
        name: "data",
        parent: "array",
    })?;
    child_elements(data)?
        .into_iter()
        .map(|value| match value.tag {
            Tag::Value => parse_value(value),
            _ => Err(unexpected(value, data)),
        })
        .collect::<Result<_, _>>()
        .map(Value::Array)
}

/// the child elements of an element that may hold only elements and whitespace
fn child_elements(elem: &Elem) -> Result<Vec<&Elem>, DecodeError> {
    let mut children = Vec::with_capacity(elem.children.len());
    for child in &elem.children {
        match child {
            Node::Elem(e) => children.push(e),
            Node::Text(t) if is_xml_whitespace(t) => {}
            Node::Text(_) => {
                return Err(DecodeError::UnexpectedText {
                    parent: elem.tag.static_name(),
                });
            }
        }
    }
    Ok(children)
}

/// the text of an element that may hold only text
fn text_of(elem: &Elem) -> Result<&str, DecodeError> {
    let mut text = "";
    for child in &elem.children {
        match child {
            Node::Text(t) => text = t,
            Node::Elem(e) => return Err(unexpected(e, elem)),
        }
    }
    Ok(text)
}

fn unexpected(found: &Elem, parent: &Elem) -> DecodeError {
    DecodeError::UnexpectedElement {
        found: found.tag.name().to_owned(),
        parent: parent.tag.static_name(),
    }
}

/// base64 as senders write it: padding optional, stray trailing bits forgiven
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// 0 and 1 as the spec says, true and false (any case) because some senders write them
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "0" => Some(false),
        "1" => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        t if t.eq_ignore_ascii_case("true") => Some(true),
        _ => None,
    }
}

/// optional sign, digits, optional point and digits (`1`, `-1.5`, `.5`, `5.`), optional
/// exponent (`1e+20`, `1E-7`, `-2.5e3`, as python's `repr` writes them); no whitespace, no hex,
/// no inf or nan, and the result must be finite
fn parse_double(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (mantissa, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    if let Some(exponent) = exponent {
        let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        if exponent.is_empty() || !digits(exponent) {
            return None;
        }
    }
    let d: f64 = text.parse().ok()?;
    d.is_finite().then_some(d)
}

/// `YYYYMMDDTHH:MM:SS` or `YYYY-MM-DDTHH:MM:SS`, optional fraction, optional `Z` or `±hh[:mm]`;
/// field ranges are checked loosely (day 1..=31 whatever the month)
fn is_datetime(text: &str) -> bool {
    let mut cursor = Cursor {
        rest: text.as_bytes(),
    };
    let Some(_year) = cursor.number(4) else {
        return false;
    };
    let dashed = cursor.eat(b'-');
    let Some(month) = cursor.number(2) else {
        return false;
    };
    if dashed && !cursor.eat(b'-') {
        return false;
    }
    let (Some(day), true) = (cursor.number(2), cursor.eat(b'T')) else {
        return false;
    };
    let Some(hour) = cursor.number(2) else {
        return false;
    };
    let (true, Some(minute), true, Some(second)) = (
        cursor.eat(b':'),
        cursor.number(2),
        cursor.eat(b':'),
        cursor.number(2),
    ) else {
        return false;
    };
    if cursor.eat(b'.') && cursor.digits() == 0 {
        return false;
    }
    let zone_ok = if cursor.eat(b'Z') {
        true
    } else if cursor.eat(b'+') || cursor.eat(b'-') {
        match cursor.number(2) {
            Some(zone_hour) if zone_hour <= 23 => {
                let colon = cursor.eat(b':');
                match cursor.number(2) {
                    Some(zone_minute) => zone_minute <= 59,
                    None => !colon,
                }
            }
            _ => false,
        }
    } else {
        true
    };
    zone_ok
        && cursor.rest.is_empty()
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour <= 24
        && minute <= 59
        && second <= 60
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl Cursor<'_> {
    fn eat(&mut self, byte: u8) -> bool {
        match self.rest.split_first() {
            Some((&b, tail)) if b == byte => {
                self.rest = tail;
                true
            }
            _ => false,
        }
    }

    /// exactly `len` ascii digits as a number
    fn number(&mut self, len: usize) -> Option<u32> {
        let (head, tail) = self.rest.split_at_checked(len)?;
        if !head.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.rest = tail;
        Some(head.iter().fold(0, |n, &b| n * 10 + u32::from(b - b'0')))
    }

    /// skips ascii digits and says how many there were
    fn digits(&mut self) -> usize {
        let count = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        self.rest = &self.rest[count..];
        count
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;

    /// a call to `m` whose `<params>` holds `params` verbatim
    fn call_doc(params: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName>\
             <params>{params}</params></methodCall>"
        )
    }

    /// the single parameter of a call whose only `<param>` holds `value_xml` verbatim
    fn decode_param(value_xml: &str) -> Result<Value, DecodeError> {
        let mut call = decode_call(call_doc(&format!("<param>{value_xml}</param>")).as_bytes())?;
        assert_eq!(call.params.len(), 1, "{value_xml}");
        Ok(call.params.remove(0))
    }

    fn string(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    fn strukt(members: Vec<(&str, Value)>) -> Value {
        Value::Struct(
            members
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )
    }

    fn round_trip_call(params: Vec<Value>) -> (MethodCall, Result<MethodCall, DecodeError>) {
        let call = MethodCall {
            method_name: "test.roundTrip".to_owned(),
            params,
        };
        let decoded = decode_call(&encode_call(&call));
        (call, decoded)
    }

    #[test]
    fn every_value_form_decodes() {
        let nested = Value::Array(vec![
            strukt(vec![
                ("list", Value::Array(vec![Value::Int(1), string("two")])),
                ("empty", Value::Array(vec![])),
            ]),
            Value::Nil,
        ]);
        let cases: Vec<(&str, Value)> = vec![
            ("<value><int>42</int></value>", Value::Int(42)),
            ("<value><i4>-12</i4></value>", Value::Int(-12)),
            ("<value><int>+7</int></value>", Value::Int(7)),
            ("<value><int>007</int></value>", Value::Int(7)),
            ("<value><int>2147483647</int></value>", Value::Int(i32::MAX)),
            ("<value><i4>-2147483648</i4></value>", Value::Int(i32::MIN)),
            (
                "<value><i8>9007199254740993</i8></value>",
                Value::I8(9_007_199_254_740_993),
            ),
            ("<value><ex:i8>-5</ex:i8></value>", Value::I8(-5)),
            ("<value><boolean>1</boolean></value>", Value::Bool(true)),
            ("<value><boolean>0</boolean></value>", Value::Bool(false)),
            ("<value><boolean>true</boolean></value>", Value::Bool(true)),
            (
                "<value><boolean>FALSE</boolean></value>",
                Value::Bool(false),
            ),
            (
                "<value><string>  padded \t</string></value>",
                string("  padded \t"),
            ),
            ("<value><string></string></value>", string("")),
            ("<value><string/></value>", string("")),
            ("<value/>", string("")),
            ("<value></value>", string("")),
            ("<value>untyped text</value>", string("untyped text")),
            (
                "<value>  untyped, spaced  </value>",
                string("  untyped, spaced  "),
            ),
            ("<value>\n   <int>5</int>\n </value>", Value::Int(5)),
            ("<value> <string> kept </string> </value>", string(" kept ")),
            (
                "<value><string><![CDATA[<a href=\"x\">&amp;</a>]]></string></value>",
                string("<a href=\"x\">&amp;</a>"),
            ),
            ("<value>a<![CDATA[<b>]]>c</value>", string("a<b>c")),
            (
                "<value><string>caf&#233; &#x263A; &lt;&gt;&amp;&apos;&quot;</string></value>",
                string("café ☺ <>&'\""),
            ),
            (
                "<value><string>ünïcødé ✓ 𝄞</string></value>",
                string("ünïcødé ✓ 𝄞"),
            ),
            (
                "<value>line1\r\nline2\rline3</value>",
                string("line1\nline2\nline3"),
            ),
            (
                "<value><string>cr&#13;kept</string></value>",
                string("cr\rkept"),
            ),
            (
                "<value><string>a<!-- comment -->b</string></value>",
                string("ab"),
            ),
            ("<value><double>1.5</double></value>", Value::Double(1.5)),
            (
                "<value><double>-12.214</double></value>",
                Value::Double(-12.214),
            ),
            ("<value><double>1</double></value>", Value::Double(1.0)),
            ("<value><double>+.5</double></value>", Value::Double(0.5)),
            ("<value><double>5.</double></value>", Value::Double(5.0)),
            (
                "<value><double>1.5e3</double></value>",
                Value::Double(1500.0),
            ),
            ("<value><double>1e+20</double></value>", Value::Double(1e20)),
            ("<value><double>1E-7</double></value>", Value::Double(1e-7)),
            ("<value><double>1e-07</double></value>", Value::Double(1e-7)),
            (
                "<value><double>-2.5e3</double></value>",
                Value::Double(-2500.0),
            ),
            ("<value><double>1e5</double></value>", Value::Double(1e5)),
            ("<value><double>.5E+1</double></value>", Value::Double(5.0)),
            ("<value><double>1e-400</double></value>", Value::Double(0.0)),
            (
                "<value><dateTime.iso8601>19980717T14:08:55</dateTime.iso8601></value>",
                Value::DateTime("19980717T14:08:55".to_owned()),
            ),
            (
                "<value><dateTime.iso8601>1998-07-17T14:08:55Z</dateTime.iso8601></value>",
                Value::DateTime("1998-07-17T14:08:55Z".to_owned()),
            ),
            (
                "<value><dateTime.iso8601>19980717T14:08:55+02:00</dateTime.iso8601></value>",
                Value::DateTime("19980717T14:08:55+02:00".to_owned()),
            ),
            (
                "<value><dateTime.iso8601>1998-07-17T14:08:55.123-0500</dateTime.iso8601></value>",
                Value::DateTime("1998-07-17T14:08:55.123-0500".to_owned()),
            ),
            (
                "<value><base64>aGk=</base64></value>",
                Value::Base64(b"hi".to_vec()),
            ),
            (
                "<value><base64>\n  aG\n  k=\n</base64></value>",
                Value::Base64(b"hi".to_vec()),
            ),
            (
                "<value><base64>aGk</base64></value>",
                Value::Base64(b"hi".to_vec()),
            ),
            ("<value><base64/></value>", Value::Base64(vec![])),
            (
                "<value><struct><member><name>a</name><value><int>1</int></value></member>\
                 <member><name>b</name><value>x</value></member></struct></value>",
                strukt(vec![("a", Value::Int(1)), ("b", string("x"))]),
            ),
            (
                "<value><struct>\n  <member>\n    <value><int>1</int></value>\n    \
                 <name> spaced name </name>\n  </member>\n</struct></value>",
                strukt(vec![(" spaced name ", Value::Int(1))]),
            ),
            ("<value><struct/></value>", Value::Struct(vec![])),
            (
                "<value><array><data><value><int>1</int></value><value>s</value></data></array></value>",
                Value::Array(vec![Value::Int(1), string("s")]),
            ),
            (
                "<value><array><data/></array></value>",
                Value::Array(vec![]),
            ),
            (
                "<value><array>\n<data>\n</data>\n</array></value>",
                Value::Array(vec![]),
            ),
            (
                "<value><array><data><value><struct>\
                 <member><name>list</name><value><array><data>\
                 <value><i4>1</i4></value><value><string>two</string></value>\
                 </data></array></value></member>\
                 <member><name>empty</name><value><array><data></data></array></value></member>\
                 </struct></value><value><nil/></value></data></array></value>",
                nested,
            ),
            ("<value><nil/></value>", Value::Nil),
            ("<value><nil></nil></value>", Value::Nil),
            ("<value><ex:nil/></value>", Value::Nil),
        ];
        for (xml, expected) in cases {
            assert_eq!(decode_param(xml), Ok(expected), "{xml}");
        }
    }

    #[test]
    fn every_value_type_round_trips() {
        let values = vec![
            Value::Int(0),
            Value::Int(i32::MIN),
            Value::Int(i32::MAX),
            Value::I8(i64::MIN),
            Value::I8(i64::MAX),
            Value::Bool(true),
            Value::Bool(false),
            string(""),
            string("plain"),
            string("  <tag> & \"quotes\" 'apos' ]]> \t\n\r\n end  "),
            string("ünïcødé ✓ 𝄞 \u{FFFD}"),
            Value::Double(0.0),
            Value::Double(-1.5),
            Value::Double(1e20),
            Value::Double(1e-7),
            Value::Double(f64::MAX),
            Value::Double(f64::MIN_POSITIVE),
            Value::Double(5e-324),
            Value::Double(0.1 + 0.2),
            Value::DateTime("19980717T14:08:55".to_owned()),
            Value::DateTime("1998-07-17T14:08:55+02:00".to_owned()),
            Value::Base64(vec![]),
            Value::Base64((0..=255).collect()),
            Value::Struct(vec![]),
            strukt(vec![
                ("a", Value::Int(1)),
                ("a", Value::Int(2)),
                ("", Value::Nil),
            ]),
            Value::Array(vec![]),
            Value::Array(vec![
                strukt(vec![("inner", Value::Array(vec![Value::Array(vec![])]))]),
                Value::Nil,
            ]),
            Value::Nil,
        ];
        for value in &values {
            let (call, decoded) = round_trip_call(vec![value.clone()]);
            assert_eq!(decoded, Ok(call), "{value:?}");
            let response = MethodResponse::Success(value.clone());
            assert_eq!(decode_response(&encode_response(&response)), Ok(response));
        }
        let (call, decoded) = round_trip_call(values);
        assert_eq!(decoded, Ok(call));
        let (call, decoded) = round_trip_call(vec![]);
        assert_eq!(decoded, Ok(call));
        let fault = MethodResponse::Fault(Fault::new(-32700, "bad <xml> & more"));
        assert_eq!(decode_response(&encode_response(&fault)), Ok(fault));
    }

    #[test]
    fn params_may_be_omitted_and_method_names_checked() {
        let cases: Vec<(&str, Result<&str, i32>)> = vec![
            (
                "<methodCall><methodName>x</methodName></methodCall>",
                Ok("x"),
            ),
            (
                "<methodCall><methodName>x</methodName><params/></methodCall>",
                Ok("x"),
            ),
            (
                "<methodCall>\n  <methodName>\n pingback.ping \n</methodName>\n</methodCall>",
                Ok("pingback.ping"),
            ),
            (
                "<methodCall><methodName>a_Z.0:b/c</methodName></methodCall>",
                Ok("a_Z.0:b/c"),
            ),
            (
                "<methodCall><methodName>pingback&#46;ping</methodName></methodCall>",
                Ok("pingback.ping"),
            ),
            (
                "<methodCall><methodName></methodName></methodCall>",
                Err(-32600),
            ),
            (
                "<methodCall><methodName>a b</methodName></methodCall>",
                Err(-32600),
            ),
            (
                "<methodCall><methodName>pingbäck</methodName></methodCall>",
                Err(-32600),
            ),
            (
                "<methodCall><methodName>a&lt;b</methodName></methodCall>",
                Err(-32600),
            ),
        ];
        for (xml, expected) in cases {
            let got = decode_call(xml.as_bytes());
            match expected {
                Ok(name) => {
                    let call = got.unwrap_or_else(|e| panic!("{xml}: {e}"));
                    assert_eq!(call.method_name, name, "{xml}");
                    assert!(call.params.is_empty(), "{xml}");
                }
                Err(code) => assert_eq!(got.map_err(|e| e.fault_code()), Err(code), "{xml}"),
            }
        }
    }

    #[test]
    fn responses_encode_in_the_spec_shape() {
        let fault = encode_response(&MethodResponse::Fault(Fault::new(17, "no <a> & link")));
        assert_eq!(
            String::from_utf8(fault).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><fault><value><struct>\
             <member><name>faultCode</name><value><int>17</int></value></member>\
             <member><name>faultString</name><value><string>no &lt;a&gt; &amp; link</string>\
             </value></member></struct></value></fault></methodResponse>\n"
        );
        let success = encode_response(&MethodResponse::Success(Value::Bool(true)));
        assert_eq!(
            String::from_utf8(success).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse><params><param>\
             <value><boolean>1</boolean></value></param></params></methodResponse>\n"
        );
        let call = encode_call(&MethodCall {
            method_name: "pingback.ping".to_owned(),
            params: vec![string("a"), Value::Nil],
        });
        assert_eq!(
            String::from_utf8(call).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodCall><methodName>pingback.ping\
             </methodName><params><param><value><string>a</string></value></param><param>\
             <value><nil/></value></param></params></methodCall>\n"
        );
    }

    #[test]
    fn scalars_encode_as_documented() {
        let cases: Vec<(Value, &str)> = vec![
            (
                Value::Double(1e20),
                "<double>100000000000000000000.0</double>",
            ),
            (Value::Double(1.5), "<double>1.5</double>"),
            (Value::Double(-0.25), "<double>-0.25</double>"),
            (Value::Double(1e-7), "<double>0.0000001</double>"),
            (Value::Double(3.0), "<double>3.0</double>"),
            (Value::Double(f64::NAN), "<double>0.0</double>"),
            (Value::Double(f64::INFINITY), "<double>0.0</double>"),
            (Value::Double(f64::NEG_INFINITY), "<double>0.0</double>"),
            (Value::Bool(false), "<boolean>0</boolean>"),
            (Value::I8(-3), "<i8>-3</i8>"),
            (Value::Base64(b"hi".to_vec()), "<base64>aGk=</base64>"),
            (string("a<b&c>d"), "<string>a&lt;b&amp;c&gt;d</string>"),
            (string("cr\r\nlf\ttab"), "<string>cr&#13;\nlf\ttab</string>"),
            (
                string("nul\u{0}bell\u{7}esc\u{1b}\u{FFFE}\u{FFFF}"),
                "<string>nul\u{FFFD}bell\u{FFFD}esc\u{FFFD}\u{FFFD}\u{FFFD}</string>",
            ),
            (
                strukt(vec![("a&b", Value::Nil)]),
                "<struct><member><name>a&amp;b</name><value><nil/></value></member></struct>",
            ),
        ];
        for (value, expected) in cases {
            let doc = String::from_utf8(encode_response(&MethodResponse::Success(value.clone())))
                .unwrap();
            assert!(
                doc.contains(&format!("<value>{expected}</value>")),
                "{value:?}: {doc}"
            );
            // whatever we write, we can read back
            assert!(decode_response(doc.as_bytes()).is_ok(), "{doc}");
        }
    }

    #[test]
    fn accessors_follow_the_variant() {
        let s = strukt(vec![
            ("n", Value::Int(1)),
            ("dup", Value::Int(1)),
            ("dup", Value::Int(2)),
        ]);
        assert_eq!(s.member("dup"), Some(&Value::Int(2)));
        assert_eq!(s.member("n").and_then(Value::as_i32), Some(1));
        assert_eq!(s.member("missing"), None);
        assert_eq!(Value::Int(1).member("n"), None);
        assert_eq!(Value::I8(7).as_i32(), Some(7));
        assert_eq!(Value::I8(i64::MAX).as_i32(), None);
        assert_eq!(Value::Int(-7).as_i64(), Some(-7));
        assert_eq!(string("x").as_str(), Some("x"));
        assert_eq!(Value::Int(1).as_str(), None);
        assert_eq!(Value::Bool(true).as_bool(), Some(true));
        assert_eq!(Value::Double(0.5).as_f64(), Some(0.5));
        assert_eq!(Value::Base64(vec![1]).as_bytes(), Some(&[1u8][..]));
        assert_eq!(Value::DateTime("d".to_owned()).as_datetime(), Some("d"));
        assert_eq!(
            Value::Array(vec![Value::Nil]).as_array(),
            Some(&[Value::Nil][..])
        );
        assert!(Value::Nil.is_nil());
        assert_eq!(Value::from("s"), string("s"));
        assert_eq!(Value::from(3), Value::Int(3));
        let names: Vec<&str> = [
            Value::Int(0),
            Value::I8(0),
            Value::Bool(true),
            string(""),
            Value::Double(0.0),
            Value::DateTime(String::new()),
            Value::Base64(vec![]),
            Value::Struct(vec![]),
            Value::Array(vec![]),
            Value::Nil,
        ]
        .iter()
        .map(Value::type_name)
        .collect();
        assert_eq!(
            names,
            [
                "int",
                "i8",
                "boolean",
                "string",
                "double",
                "dateTime.iso8601",
                "base64",
                "struct",
                "array",
                "nil"
            ]
        );
    }

    /// the answers of the validator1 suite, as a server would compute them
    fn validator1(call: &MethodCall) -> Value {
        let p = &call.params;
        let int = |v: &Value, name: &str| v.member(name).and_then(Value::as_i32).unwrap_or(0);
        let stooges = |v: &Value| int(v, "moe") + int(v, "larry") + int(v, "curly");
        match call.method_name.as_str() {
            "validator1.arrayOfStructsTest" => Value::Int(
                p[0].as_array()
                    .unwrap()
                    .iter()
                    .map(|s| int(s, "curly"))
                    .sum(),
            ),
            "validator1.countTheEntities" => {
                let s = p[0].as_str().unwrap();
                let count = |c: char| Value::Int(s.chars().filter(|&x| x == c).count() as i32);
                strukt(vec![
                    ("ctLeftAngleBrackets", count('<')),
                    ("ctRightAngleBrackets", count('>')),
                    ("ctAmpersands", count('&')),
                    ("ctApostrophes", count('\'')),
                    ("ctQuotes", count('"')),
                ])
            }
            "validator1.easyStructTest" => Value::Int(stooges(&p[0])),
            "validator1.echoStructTest" => p[0].clone(),
            "validator1.manyTypesTest" => Value::Array(p.clone()),
            "validator1.moderateSizeArrayCheck" => {
                let items = p[0].as_array().unwrap();
                let first = items.first().and_then(Value::as_str).unwrap();
                let last = items.last().and_then(Value::as_str).unwrap();
                Value::String(format!("{first}{last}"))
            }
            "validator1.nestedStructTest" => {
                let day = p[0].member("2000").and_then(|y| y.member("04"));
                Value::Int(stooges(day.and_then(|m| m.member("01")).unwrap()))
            }
            "validator1.simpleStructReturnTest" => {
                let n = p[0].as_i32().unwrap();
                strukt(vec![
                    ("times10", Value::Int(n * 10)),
                    ("times100", Value::Int(n * 100)),
                    ("times1000", Value::Int(n * 1000)),
                ])
            }
            other => panic!("not a validator1 method: {other}"),
        }
    }

    fn validator_call(method: &str, params: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\n<methodCall>\n  <methodName>validator1.{method}</methodName>\n  \
             <params>{params}</params>\n</methodCall>\n"
        )
    }

    #[test]
    fn validator1_suite() {
        let stooge_struct = |moe: i32, larry: i32, curly: i32| {
            format!(
                "<value><struct>\n\
                 <member><name>moe</name><value><i4>{moe}</i4></value></member>\n\
                 <member><name>larry</name><value><i4>{larry}</i4></value></member>\n\
                 <member><name>curly</name><value><i4>{curly}</i4></value></member>\n\
                 </struct></value>"
            )
        };
        let array_of_structs = validator_call(
            "arrayOfStructsTest",
            &format!(
                "<param><value><array><data>\n{}\n{}\n</data></array></value></param>",
                stooge_struct(1, 2, 3),
                stooge_struct(4, 5, 6)
            ),
        );
        // the drupal vector, written with entities and character references
        let entities = validator_call(
            "countTheEntities",
            "<param><value><string>t&#39;&amp;>&gt;zf\"md&gt;yr&#x3E;xlcev&lt;h&lt;&quot;k\
             &amp;j&#60;og&quot;w&amp;&amp;&gt;&quot;&gt;&gt;uai&quot;np&amp;s&gt;&gt;q&apos;\
             &amp;b&lt;&gt;&quot;&amp;&amp;&#38;</string></value></param>",
        );
        let easy_struct = validator_call(
            "easyStructTest",
            "<param><value><struct>\
             <member><name>moe</name><value><i4>1</i4></value></member>\
             <member><name>larry</name><value><i4>2</i4></value></member>\
             <member><name>curly</name><value><i4>3</i4></value></member>\
             <member><name>homer</name><value><i4>100</i4></value></member>\
             </struct></value></param>",
        );
        let echo_struct = validator_call(
            "echoStructTest",
            "<param><value><struct>\
             <member><name>sub1</name><value><struct>\
               <member><name>bar</name><value><i4>13</i4></value></member>\
             </struct></value></member>\
             <member><name>sub2</name><value><i4>14</i4></value></member>\
             <member><name>sub3</name><value><struct>\
               <member><name>foo</name><value><i4>1</i4></value></member>\
               <member><name>baz</name><value><i4>2</i4></value></member>\
             </struct></value></member>\
             <member><name>sub4</name><value><struct>\
               <member><name>ss</name><value><struct>\
                 <member><name>sss</name><value><struct>\
                   <member><name>ssss</name><value><string>sssss</string></value></member>\
                 </struct></value></member>\
               </struct></value></member>\
             </struct></value></member>\
             </struct></value></param>",
        );
        let many_types = validator_call(
            "manyTypesTest",
            "<param><value><i4>42</i4></value></param>\
             <param><value><boolean>1</boolean></value></param>\
             <param><value><string>x</string></value></param>\
             <param><value><double>1.5</double></value></param>\
             <param><value><dateTime.iso8601>19980717T14:08:55</dateTime.iso8601></value></param>\
             <param><value><base64>aGk=</base64></value></param>",
        );
        let moderate_array = validator_call(
            "moderateSizeArrayCheck",
            &format!(
                "<param><value><array><data>{}</data></array></value></param>",
                (0..150)
                    .map(|i| if i % 2 == 0 {
                        format!("<value><string>s{i}</string></value>")
                    } else {
                        format!("<value>s{i}</value>")
                    })
                    .collect::<String>()
            ),
        );
        // drupal's calendar: years 2000-2001, months 03-04, days 01-05; only 2000/04/01 counts
        let mut calendar = String::from("<param><value><struct>");
        for year in [2000, 2001] {
            calendar.push_str(&format!("<member><name>{year}</name><value><struct>"));
            for month in [3, 4] {
                calendar.push_str(&format!("<member><name>{month:02}</name><value><struct>"));
                for day in 1..=5 {
                    calendar.push_str(&format!(
                        "<member><name>{day:02}</name>{}</member>",
                        stooge_struct(day, month * 10, (year - 1999) * 100)
                    ));
                }
                calendar.push_str("</struct></value></member>");
            }
            calendar.push_str("</struct></value></member>");
        }
        calendar.push_str("</struct></value></param>");
        let nested_struct = validator_call("nestedStructTest", &calendar);
        let simple_struct_return = validator_call(
            "simpleStructReturnTest",
            "<param><value><i4>7</i4></value></param>",
        );

        let int = Value::Int;
        let cases: Vec<(&str, String, Value)> = vec![
            ("arrayOfStructsTest", array_of_structs, int(9)),
            (
                "countTheEntities",
                entities,
                strukt(vec![
                    ("ctLeftAngleBrackets", int(4)),
                    ("ctRightAngleBrackets", int(10)),
                    ("ctAmpersands", int(9)),
                    ("ctApostrophes", int(2)),
                    ("ctQuotes", int(6)),
                ]),
            ),
            ("easyStructTest", easy_struct, int(6)),
            (
                "echoStructTest",
                echo_struct,
                strukt(vec![
                    ("sub1", strukt(vec![("bar", int(13))])),
                    ("sub2", int(14)),
                    ("sub3", strukt(vec![("foo", int(1)), ("baz", int(2))])),
                    (
                        "sub4",
                        strukt(vec![(
                            "ss",
                            strukt(vec![("sss", strukt(vec![("ssss", string("sssss"))]))]),
                        )]),
                    ),
                ]),
            ),
            (
                "manyTypesTest",
                many_types,
                Value::Array(vec![
                    int(42),
                    Value::Bool(true),
                    string("x"),
                    Value::Double(1.5),
                    Value::DateTime("19980717T14:08:55".to_owned()),
                    Value::Base64(b"hi".to_vec()),
                ]),
            ),
            ("moderateSizeArrayCheck", moderate_array, string("s0s149")),
            ("nestedStructTest", nested_struct, int(1 + 40 + 100)),
            (
                "simpleStructReturnTest",
                simple_struct_return,
                strukt(vec![
                    ("times10", int(70)),
                    ("times100", int(700)),
                    ("times1000", int(7000)),
                ]),
            ),
        ];
        for (method, request, expected) in cases {
            let call = decode_call(request.as_bytes()).unwrap_or_else(|e| panic!("{method}: {e}"));
            assert_eq!(call.method_name, format!("validator1.{method}"));
            let body = encode_response(&MethodResponse::Success(validator1(&call)));
            assert_eq!(
                decode_response(&body),
                Ok(MethodResponse::Success(expected)),
                "{method}"
            );
            if method == "manyTypesTest" {
                let text = String::from_utf8(body).unwrap();
                assert!(text.contains("<dateTime.iso8601>19980717T14:08:55</dateTime.iso8601>"));
            }
        }
    }

    #[test]
    fn entity_vector_decodes_to_the_raw_characters() {
        let call = decode_call(
            validator_call(
                "countTheEntities",
                "<param><value>t&#39;&amp;>&gt;zf\"md&gt;yr&#x3E;xlcev&lt;h&lt;&quot;k\
                 &amp;j&#60;og&quot;w&amp;&amp;&gt;&quot;&gt;&gt;uai&quot;np&amp;s&gt;&gt;q&apos;\
                 &amp;b&lt;&gt;&quot;&amp;&amp;&#38;</value></param>",
            )
            .as_bytes(),
        );
        assert_eq!(
            call.map(|c| c.params),
            Ok(vec![string(
                "t'&>>zf\"md>yr>xlcev<h<\"k&j<og\"w&&>\">>uai\"np&s>>q'&b<>\"&&&"
            )])
        );
    }

    fn billion_laughs() -> String {
        let mut doc =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
        for level in 1..=9 {
            let previous = if level == 1 {
                "lol".to_owned()
            } else {
                format!("lol{}", level - 1)
            };
            let refs = format!("&{previous};").repeat(10);
            doc.push_str(&format!(" <!ENTITY lol{level} \"{refs}\">\n"));
        }
        doc.push_str(
            "]>\n<methodCall><methodName>m</methodName><params><param>\
                      <value><string>&lol9;</string></value></param></params></methodCall>",
        );
        doc
    }

    fn value_call(value: &str) -> Vec<u8> {
        call_doc(&format!("<param><value>{value}</value></param>")).into_bytes()
    }

    #[test]
    fn bad_input_gets_the_interop_fault_code() {
        let long = "a".repeat(100_000);
        let bytes = |s: &str| s.as_bytes().to_vec();
        let cases: Vec<(&str, Vec<u8>, i32)> = vec![
            ("garbage", bytes("this is not xml at all"), -32700),
            ("empty body", vec![], -32700),
            ("whitespace only", bytes(" \n "), -32700),
            ("binary", vec![0xde, 0xad, 0xbe, 0xef], -32700),
            (
                "truncated",
                bytes("<methodCall><methodName>x</methodName><params><param><value><int>1"),
                -32700,
            ),
            (
                "truncated in a tag",
                bytes("<methodCall><methodName>x</methodName><par"),
                -32700,
            ),
            (
                "mismatched end tag",
                bytes("<methodCall><methodName>x</methodCall>"),
                -32700,
            ),
            (
                "two roots",
                bytes("<methodCall><methodName>x</methodName></methodCall><methodCall/>"),
                -32700,
            ),
            (
                "text after the root",
                bytes("<methodCall><methodName>x</methodName></methodCall>junk"),
                -32700,
            ),
            ("billion laughs", bytes(&billion_laughs()), -32700),
            (
                "doctype without entities",
                bytes("<!DOCTYPE methodCall><methodCall><methodName>x</methodName></methodCall>"),
                -32700,
            ),
            (
                "undeclared entity",
                value_call("<string>&lol9;</string>"),
                -32700,
            ),
            ("html entity", value_call("a&nbsp;b"), -32700),
            ("nul char ref", value_call("&#0;"), -32700),
            ("control char ref", value_call("&#1;"), -32700),
            ("surrogate char ref", value_call("&#xD800;"), -32700),
            ("out of range char ref", value_call("&#x110000;"), -32700),
            ("dangling ampersand", value_call("a & b"), -32700),
            (
                "processing instruction",
                bytes("<?xml version=\"1.0\"?><?php echo 1; ?><methodCall/>"),
                -32700,
            ),
            (
                "stylesheet instruction",
                bytes("<?xml-stylesheet href=\"x\"?><methodCall/>"),
                -32700,
            ),
            (
                "declaration not first",
                bytes(
                    " <?xml version=\"1.0\"?><methodCall><methodName>x</methodName></methodCall>",
                ),
                -32700,
            ),
            ("raw control character", value_call("a\u{1}b"), -32700),
            (
                "invalid utf-8",
                [&value_call("")[..60], b"\xff\xfe", &value_call("")[60..]].concat(),
                -32700,
            ),
            (
                "overlong utf-8",
                [
                    b"<methodCall><methodName>m\xc0\xaf".as_slice(),
                    b"</methodName></methodCall>",
                ]
                .concat(),
                -32700,
            ),
            (
                "malformed attribute",
                bytes("<methodCall a=\"1\" a=\"2\"/>"),
                -32700,
            ),
            (
                "comment with --",
                bytes("<methodCall><!-- a -- b --></methodCall>"),
                -32700,
            ),
            (
                "unsupported encoding",
                bytes("<?xml version=\"1.0\" encoding=\"x-klingon\"?><methodCall/>"),
                -32701,
            ),
            (
                "declared utf-16 on ascii bytes, read as utf-8",
                bytes("<?xml version=\"1.0\" encoding=\"UTF-16\"?><methodCall/>"),
                -32600,
            ),
            (
                "invalid big5 bytes",
                [
                    bytes("<?xml version=\"1.0\" encoding=\"Big5\"?><methodCall>"),
                    vec![0x81, 0x20],
                    bytes("</methodCall>"),
                ]
                .concat(),
                -32700,
            ),
            ("truncated utf-16", b"\xFF\xFE<\0m\0".to_vec(), -32700),
            ("odd-length utf-16", b"\xFF\xFE<\0m".to_vec(), -32700),
            (
                "utf-32 byte order mark",
                b"\0\0\xFE\xFF\0\0\0<".to_vec(),
                -32701,
            ),
            ("wrong root", bytes("<foo/>"), -32600),
            (
                "response given as a call",
                bytes("<methodResponse><params/></methodResponse>"),
                -32600,
            ),
            (
                "missing methodName",
                bytes("<methodCall><params/></methodCall>"),
                -32600,
            ),
            (
                "two methodNames",
                bytes(
                    "<methodCall><methodName>a</methodName><methodName>b</methodName></methodCall>",
                ),
                -32600,
            ),
            (
                "text in methodCall",
                call_doc("").replace("<params>", "x<params>").into_bytes(),
                -32600,
            ),
            ("int abc", value_call("<int>abc</int>"), -32600),
            ("int with whitespace", value_call("<int> 1</int>"), -32600),
            ("int overflow", value_call("<int>2147483648</int>"), -32600),
            ("empty int", value_call("<int></int>"), -32600),
            (
                "i8 overflow",
                value_call("<i8>9223372036854775808</i8>"),
                -32600,
            ),
            ("boolean 2", value_call("<boolean>2</boolean>"), -32600),
            ("double inf", value_call("<double>inf</double>"), -32600),
            ("double nan", value_call("<double>NaN</double>"), -32600),
            (
                "double infinity",
                value_call("<double>-Infinity</double>"),
                -32600,
            ),
            ("double hex", value_call("<double>0x1p3</double>"), -32600),
            (
                "double hex digits",
                value_call("<double>0x10</double>"),
                -32600,
            ),
            (
                "double leading whitespace",
                value_call("<double> 1.5</double>"),
                -32600,
            ),
            (
                "double trailing whitespace",
                value_call("<double>1.5 </double>"),
                -32600,
            ),
            (
                "double exponent without digits",
                value_call("<double>1e</double>"),
                -32600,
            ),
            (
                "double exponent sign only",
                value_call("<double>1e+</double>"),
                -32600,
            ),
            (
                "double exponent without mantissa",
                value_call("<double>e5</double>"),
                -32600,
            ),
            (
                "double exponent with a point",
                value_call("<double>1e2.5</double>"),
                -32600,
            ),
            (
                "double exponent with a space",
                value_call("<double>1e 5</double>"),
                -32600,
            ),
            (
                "double two exponents",
                value_call("<double>1e2e3</double>"),
                -32600,
            ),
            (
                "double double sign",
                value_call("<double>1e--5</double>"),
                -32600,
            ),
            (
                "double exponent too large",
                value_call("<double>1e400</double>"),
                -32600,
            ),
            (
                "double two points",
                value_call("<double>1.5.2</double>"),
                -32600,
            ),
            (
                "double point only",
                value_call("<double>.</double>"),
                -32600,
            ),
            (
                "double too large",
                value_call(&format!("<double>1{}</double>", "0".repeat(400))),
                -32600,
            ),
            (
                "datetime words",
                value_call("<dateTime.iso8601>yesterday</dateTime.iso8601>"),
                -32600,
            ),
            (
                "datetime month 13",
                value_call("<dateTime.iso8601>19981317T14:08:55</dateTime.iso8601>"),
                -32600,
            ),
            (
                "datetime half dashed",
                value_call("<dateTime.iso8601>1998-0717T14:08:55</dateTime.iso8601>"),
                -32600,
            ),
            ("bad base64", value_call("<base64>!!!</base64>"), -32600),
            ("unknown type", value_call("<float>1</float>"), -32600),
            (
                "two typed children",
                value_call("<int>1</int><int>2</int>"),
                -32600,
            ),
            (
                "text beside a typed child",
                value_call("x<int>1</int>"),
                -32600,
            ),
            (
                "element in a string",
                value_call("<string><b>x</b></string>"),
                -32600,
            ),
            ("nil with text", value_call("<nil>x</nil>"), -32600),
            (
                "member without name",
                value_call("<struct><member><value>1</value></member></struct>"),
                -32600,
            ),
            ("text in struct", value_call("<struct>x</struct>"), -32600),
            (
                "array without data",
                value_call("<array><value>1</value></array>"),
                -32600,
            ),
            (
                "value straight in params",
                call_doc("<value>1</value>").into_bytes(),
                -32600,
            ),
            (
                "param with two values",
                call_doc("<param><value/><value/></param>").into_bytes(),
                -32600,
            ),
            (
                "param without value",
                call_doc("<param/>").into_bytes(),
                -32600,
            ),
            (
                "100 KB unclosed tag",
                bytes(&format!("<methodCall><{long}")),
                -32700,
            ),
            (
                "100 KB mismatched names",
                bytes(&format!("<methodCall><{long}></b{long}></methodCall>")),
                -32700,
            ),
            (
                "100 KB unknown entity",
                value_call(&format!("&{long};")),
                -32700,
            ),
            ("100 KB of garbage", bytes(&long), -32700),
            (
                "100 KB encoding label",
                bytes(&format!(
                    "<?xml version=\"1.0\" encoding=\"{long}\"?><methodCall/>"
                )),
                -32701,
            ),
            (
                "100 KB unknown element",
                bytes(&format!("<methodCall><{long}/></methodCall>")),
                -32600,
            ),
            ("100 KB root name", bytes(&format!("<{long}/>")), -32600),
            (
                "100 KB unknown type",
                value_call(&format!("<{long}/>")),
                -32600,
            ),
            (
                "100 KB text",
                bytes(&format!("<methodCall>{long}</methodCall>")),
                -32600,
            ),
        ];
        for (label, body, code) in cases {
            let err = match decode_call(&body) {
                Ok(call) => panic!("{label}: decoded {call:?}"),
                Err(err) => err,
            };
            assert_eq!(err.fault_code(), code, "{label}: {err}");
            let message = err.to_string();
            assert!(message.len() < 200, "{label}: {} chars", message.len());
            assert!(
                !message.contains("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                "{label}: {message}"
            );
            assert_eq!(Fault::from(&err), Fault::new(code, message));
        }
    }

    #[test]
    fn doctype_is_refused_fast_and_specifically() {
        let started = Instant::now();
        let result = decode_call(billion_laughs().as_bytes());
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(result, Err(DecodeError::DoctypeForbidden));
        assert_eq!(
            decode_call(b"<methodCall><?php x ?></methodCall>"),
            Err(DecodeError::ProcessingInstructionForbidden)
        );
        assert_eq!(
            decode_call(&value_call("&lol;")),
            Err(DecodeError::UnknownEntity {
                name: "lol".to_owned()
            })
        );
    }

    /// `<methodCall>` holding `depth - 1` nested `<x>` elements, so the deepest is at `depth`
    fn nested_elements(depth: usize) -> String {
        format!(
            "<methodCall>{}{}</methodCall>",
            "<x>".repeat(depth - 1),
            "</x>".repeat(depth - 1)
        )
    }

    /// a call whose value nests `levels` arrays around `inner`; the top `<value>` is at depth 4
    /// and each level adds 3, so `inner`'s elements start at depth 5 + 3 * levels
    fn nested_arrays(levels: usize, inner: &str) -> String {
        call_doc(&format!(
            "<param><value>{}{inner}{}</value></param>",
            "<array><data><value>".repeat(levels),
            "</value></data></array>".repeat(levels)
        ))
    }

    #[test]
    fn depth_limit_is_exact() {
        let too_deep = Err(DecodeError::TooDeep { max: MAX_DEPTH });
        let at_limit = decode_call(nested_elements(MAX_DEPTH).as_bytes());
        assert_eq!(
            at_limit,
            Err(DecodeError::UnexpectedElement {
                found: "x".to_owned(),
                parent: "methodCall"
            })
        );
        assert_eq!(
            decode_call(nested_elements(MAX_DEPTH + 1).as_bytes()),
            too_deep
        );
        // <int> at 5 + 3 * 9 = 32: accepted
        let mut expected = Value::Int(1);
        for _ in 0..9 {
            expected = Value::Array(vec![expected]);
        }
        let decoded = decode_call(nested_arrays(9, "<int>1</int>").as_bytes());
        assert_eq!(decoded.map(|c| c.params), Ok(vec![expected]));
        // <data> at 6 + 3 * 9 = 33: refused
        let deep = decode_call(nested_arrays(9, "<array><data/></array>").as_bytes());
        assert_eq!(deep, too_deep);
        assert_eq!(DecodeError::TooDeep { max: MAX_DEPTH }.fault_code(), -32700);
        // no stack overflow however deep the input goes
        let attack = format!("<methodCall>{}", "<value><array><data>".repeat(100_000));
        assert_eq!(decode_call(attack.as_bytes()), too_deep);
    }

    #[test]
    fn element_limit_is_exact() {
        // methodCall, methodName, params, param, value, array, data: 7 elements before the items
        let array_of = |items: usize, item: &str| {
            call_doc(&format!(
                "<param><value><array><data>{}</data></array></value></param>",
                item.repeat(items)
            ))
        };
        let at_limit = decode_call(array_of(MAX_ELEMENTS - 7, "<value>x</value>").as_bytes());
        let params = at_limit.map(|c| c.params);
        assert_eq!(
            params.as_ref().map(|p| p[0].as_array().map(<[Value]>::len)),
            Ok(Some(MAX_ELEMENTS - 7))
        );
        let over = decode_call(array_of(MAX_ELEMENTS - 6, "<value>x</value>").as_bytes());
        let too_many = Err(DecodeError::TooManyElements { max: MAX_ELEMENTS });
        assert_eq!(over, too_many);
        let flood = decode_call(array_of(20_000, "<value><nil/></value>").as_bytes());
        assert_eq!(flood, too_many);
        assert_eq!(
            DecodeError::TooManyElements { max: MAX_ELEMENTS }.fault_code(),
            -32700
        );
    }

    #[test]
    fn declared_encodings_are_honoured() {
        let doc = |decl: &[u8], text: &[u8]| {
            [
                decl,
                b"<methodCall><methodName>m</methodName><params><param><value><string>",
                text,
                b"</string></value></param></params></methodCall>",
            ]
            .concat()
        };
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>".as_slice();
        let cp1252 = b"<?xml version='1.0' encoding='windows-1252'?>".as_slice();
        let utf8 = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>".as_slice();
        let ascii = b"<?xml version=\"1.0\" encoding=\"US-ASCII\"?>".as_slice();
        let decl = |label: &str| format!("<?xml version=\"1.0\" encoding=\"{label}\"?>");
        // a call holding `text` with a utf-16 declaration, still as utf-8 text
        let doc16 = |text: &str| {
            String::from_utf8(doc(decl("UTF-16").as_bytes(), text.as_bytes()))
                .expect("utf-8 in, utf-8 out")
        };
        let utf16 = |text: &str, big_endian: bool, mark: bool| {
            let text = if mark {
                format!("\u{FEFF}{text}")
            } else {
                text.to_owned()
            };
            text.encode_utf16()
                .flat_map(|unit| {
                    if big_endian {
                        unit.to_be_bytes()
                    } else {
                        unit.to_le_bytes()
                    }
                })
                .collect::<Vec<u8>>()
        };
        let cases: Vec<(&str, Vec<u8>, Result<&str, i32>)> = vec![
            ("latin-1", doc(latin1, b"caf\xe9 \xbd"), Ok("café ½")),
            (
                "latin-1 label read as windows-1252",
                doc(latin1, b"\x93q\x94"),
                Ok("“q”"),
            ),
            (
                "windows-1252",
                doc(cp1252, b"\x80 \x9f \x81"),
                Ok("€ Ÿ \u{81}"),
            ),
            ("utf-8 declared", doc(utf8, "café".as_bytes()), Ok("café")),
            ("us-ascii declared", doc(ascii, b"plain"), Ok("plain")),
            ("no declaration", doc(b"", "café".as_bytes()), Ok("café")),
            (
                "utf-8 byte order mark",
                [b"\xEF\xBB\xBF".as_slice(), &doc(utf8, "☺".as_bytes())].concat(),
                Ok("☺"),
            ),
            (
                "latin-1 bytes without declaration",
                doc(b"", b"caf\xe9"),
                Err(-32700),
            ),
            (
                "latin-1 bytes declared utf-8",
                doc(utf8, b"caf\xe9"),
                Err(-32700),
            ),
            (
                "shift_jis",
                doc(
                    decl("Shift_JIS").as_bytes(),
                    b"\x93\xfa\x96{\x8c\xea \xb6\xc5",
                ),
                Ok("日本語 ｶﾅ"),
            ),
            (
                "shift_jis by its windows name",
                doc(decl("windows-31j").as_bytes(), b"\x93\xfa"),
                Ok("日"),
            ),
            (
                "koi8-r",
                doc(decl("KOI8-R").as_bytes(), b"\xf0\xd2\xc9\xd7\xc5\xd4"),
                Ok("Привет"),
            ),
            (
                "euc-jp",
                doc(decl("EUC-JP").as_bytes(), b"\xc6\xfc\xcb\xdc\xb8\xec"),
                Ok("日本語"),
            ),
            (
                "iso-8859-15",
                doc(decl("ISO-8859-15").as_bytes(), b"\xa4 \xbd \xbe"),
                Ok("€ œ Ÿ"),
            ),
            (
                "label with surrounding whitespace",
                doc(decl(" koi8-r ").as_bytes(), b"\xd0"),
                Ok("п"),
            ),
            (
                "shift_jis lead byte without trail",
                doc(decl("Shift_JIS").as_bytes(), b"ok \x93"),
                Err(-32700),
            ),
            (
                "shift_jis bad trail byte",
                doc(decl("Shift_JIS").as_bytes(), b"\x93 "),
                Err(-32700),
            ),
            (
                "euc-jp truncated",
                doc(decl("EUC-JP").as_bytes(), b"\xc6"),
                Err(-32700),
            ),
            (
                "unknown label",
                doc(decl("klingon").as_bytes(), b"x"),
                Err(-32701),
            ),
            (
                "label whatwg maps to replacement",
                doc(decl("ISO-2022-KR").as_bytes(), b"x"),
                Err(-32701),
            ),
            (
                "utf-16 label on ascii bytes read as utf-8",
                doc(decl("UTF-16").as_bytes(), "café".as_bytes()),
                Ok("café"),
            ),
            (
                "utf-8 mark outranks the declaration",
                [
                    b"\xEF\xBB\xBF".as_slice(),
                    &doc(decl("klingon").as_bytes(), "é".as_bytes()),
                ]
                .concat(),
                Ok("é"),
            ),
            ("utf-16le mark", utf16(&doc16("☺𝄞"), false, true), Ok("☺𝄞")),
            ("utf-16be mark", utf16(&doc16("☺𝄞"), true, true), Ok("☺𝄞")),
            (
                "utf-16le no mark",
                utf16(&doc16("é"), false, false),
                Ok("é"),
            ),
            ("utf-16be no mark", utf16(&doc16("é"), true, false), Ok("é")),
            (
                "utf-16 mark outranks the declaration",
                utf16(&doc16("é").replace("UTF-16", "Shift_JIS"), false, true),
                Ok("é"),
            ),
            (
                "utf-16 without declaration",
                utf16(&doc16("é").replace(&decl("UTF-16"), ""), true, true),
                Ok("é"),
            ),
            (
                "utf-16 lone surrogate",
                [utf16(&doc16(""), false, true), vec![0x00, 0xD8]].concat(),
                Err(-32700),
            ),
            (
                "utf-16 odd length",
                [utf16(&doc16(""), true, true), vec![0x00]].concat(),
                Err(-32700),
            ),
            (
                "utf-16 mark with nothing after",
                b"\xFE\xFF\0<".to_vec(),
                Err(-32700),
            ),
            (
                "utf-32le mark",
                b"\xFF\xFE\0\0<\0\0\0".to_vec(),
                Err(-32701),
            ),
            ("utf-32be no mark", b"\0\0\0<".to_vec(), Err(-32701)),
        ];
        for (label, body, expected) in cases {
            let got = decode_call(&body)
                .map(|c| c.params)
                .map_err(|e| e.fault_code());
            assert_eq!(got, expected.map(|s| vec![string(s)]), "{label}");
        }
        let errors = [
            (
                doc(decl("KOI8-U-ish").as_bytes(), b"x"),
                DecodeError::UnsupportedEncoding {
                    encoding: "KOI8-U-ish".to_owned(),
                },
            ),
            (
                doc(decl("Shift_JIS").as_bytes(), b"\x93 "),
                DecodeError::InvalidBytes {
                    encoding: "Shift_JIS",
                },
            ),
            (
                utf16(&doc16(""), false, true)[..7].to_vec(),
                DecodeError::InvalidBytes {
                    encoding: "UTF-16LE",
                },
            ),
        ];
        for (body, expected) in errors {
            assert!(expected.to_string().len() < 40, "{expected}");
            assert_eq!(decode_call(&body), Err(expected));
        }
        let bad_utf8 = doc(decl("utf8").as_bytes(), b"caf\xe9");
        let position = bad_utf8.iter().position(|&b| b == 0xe9).map(|p| p as u64);
        assert_eq!(
            decode_call(&bad_utf8).map_err(|e| match e {
                DecodeError::InvalidUtf8 { position } => Some(position),
                _ => None,
            }),
            Err(position)
        );
        assert_eq!(
            DecodeError::InvalidBytes { encoding: "EUC-JP" }.to_string(),
            "invalid EUC-JP byte sequence"
        );
    }

    #[test]
    fn responses_decode_and_reject_bad_shapes() {
        let ok = |inner: &str| format!("<methodResponse>{inner}</methodResponse>");
        let fault = |members: &str| {
            ok(&format!(
                "<fault><value><struct>{members}</struct></value></fault>"
            ))
        };
        let code = "<member><name>faultCode</name><value><int>48</int></value></member>";
        let text = "<member><name>faultString</name><value><string>dup</string></value></member>";
        let cases: Vec<(String, Result<MethodResponse, i32>)> = vec![
            (
                ok("<params><param><value><i4>9</i4></value></param></params>"),
                Ok(MethodResponse::Success(Value::Int(9))),
            ),
            (
                fault(&format!("{code}{text}")),
                Ok(MethodResponse::Fault(Fault::new(48, "dup"))),
            ),
            (
                fault(&format!("\n{text}\n{code}\n")),
                Ok(MethodResponse::Fault(Fault::new(48, "dup"))),
            ),
            (ok("<params/>"), Err(-32600)),
            (
                ok("<params><param><value/></param><param><value/></param></params>"),
                Err(-32600),
            ),
            (ok(""), Err(-32600)),
            (
                ok("<params><param><value/></param></params><fault/>"),
                Err(-32600),
            ),
            (fault(code), Err(-32600)),
            (fault(text), Err(-32600)),
            (
                ok("<fault><value>not a struct</value></fault>"),
                Err(-32600),
            ),
            (
                "<methodCall><methodName>x</methodName></methodCall>".to_owned(),
                Err(-32600),
            ),
            ("<methodResponse>".to_owned(), Err(-32700)),
        ];
        for (xml, expected) in cases {
            let got = decode_response(xml.as_bytes()).map_err(|e| e.fault_code());
            assert_eq!(got, expected, "{xml}");
        }
    }

    /// strings made only of characters xml 1.0 can carry
    fn xml_text() -> impl Strategy<Value = String> {
        any::<String>().prop_map(|s| s.chars().filter(|&c| is_xml_char(c)).collect())
    }

    fn datetime() -> impl Strategy<Value = String> {
        (
            (1000u32..=9999, 1u32..=12, 1u32..=31),
            (0u32..=23, 0u32..=59, 0u32..=59),
            any::<bool>(),
            prop::sample::select(vec!["", "Z", "+02:00", "-0530", ".5", ".123Z"]),
        )
            .prop_map(|((y, mo, d), (h, mi, s), dashed, zone)| {
                if dashed {
                    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{zone}")
                } else {
                    format!("{y:04}{mo:02}{d:02}T{h:02}:{mi:02}:{s:02}{zone}")
                }
            })
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(Value::Int),
            any::<i64>().prop_map(Value::I8),
            any::<bool>().prop_map(Value::Bool),
            xml_text().prop_map(Value::String),
            any::<f64>()
                .prop_filter("finite", |d| d.is_finite())
                .prop_map(Value::Double),
            datetime().prop_map(Value::DateTime),
            prop::collection::vec(any::<u8>(), 0..48).prop_map(Value::Base64),
            Just(Value::Nil),
        ];
        leaf.prop_recursive(3, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((xml_text(), inner), 0..6).prop_map(Value::Struct),
            ]
        })
    }

    /// pieces of xml-rpc and xml to build tag soup from
    const SOUP: &[&str] = &[
        "<methodCall>",
        "</methodCall>",
        "<methodName>",
        "</methodName>",
        "<params>",
        "</params>",
        "<param>",
        "</param>",
        "<value>",
        "</value>",
        "<value/>",
        "<int>",
        "</int>",
        "<string>",
        "</string>",
        "<struct>",
        "</struct>",
        "<member>",
        "</member>",
        "<name>",
        "</name>",
        "<array>",
        "</array>",
        "<data>",
        "</data>",
        "<data/>",
        "<nil/>",
        "<base64>",
        "</base64>",
        "<double>",
        "</double>",
        "&amp;",
        "&#x41;",
        "&#0;",
        "&bogus;",
        "&",
        "<![CDATA[x]]>",
        "<!-- c -->",
        "<?pi x?>",
        "<!DOCTYPE x>",
        "1",
        "-1.5",
        "abc",
        " ",
        "\n",
        "<",
        ">",
        "/",
        "é",
        "\u{1}",
        "\"",
        "=",
    ];

    proptest! {
        #[test]
        fn decoding_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let errors = [decode_call(&body).err(), decode_response(&body).err()];
            for err in errors.into_iter().flatten() {
                prop_assert!([-32700, -32701, -32600].contains(&err.fault_code()));
                prop_assert!(err.to_string().len() < 200);
            }
        }

        #[test]
        fn decoding_never_panics_inside_a_call(inner in any::<String>()) {
            let _ = decode_call(value_call(&inner).as_slice());
            let _ = decode_call(call_doc(&inner).as_bytes());
        }

        #[test]
        fn decoding_never_panics_on_tag_soup(
            pieces in prop::collection::vec(prop::sample::select(SOUP), 0..80),
        ) {
            let soup = pieces.concat();
            let _ = decode_call(soup.as_bytes());
            let _ = decode_call(value_call(&soup).as_slice());
            let _ = decode_response(soup.as_bytes());
        }

        #[test]
        fn calls_round_trip(
            method_name in "[A-Za-z0-9_.:/]{1,24}",
            params in prop::collection::vec(any_value(), 0..4),
        ) {
            let call = MethodCall { method_name, params };
            prop_assert_eq!(decode_call(&encode_call(&call)), Ok(call));
        }

        #[test]
        fn responses_round_trip(value in any_value(), code in any::<i32>(), message in xml_text()) {
            let success = MethodResponse::Success(value);
            prop_assert_eq!(decode_response(&encode_response(&success)), Ok(success));
            let fault = MethodResponse::Fault(Fault::new(code, message));
            prop_assert_eq!(decode_response(&encode_response(&fault)), Ok(fault));
        }
    }
}
