//! Pingback 1.0 over XML-RPC: which methods exist, how their parameters are read, and how every
//! outcome becomes the spec's exact answer. Pure: the route executes, this module only maps.
//!
//! Fault codes follow the Pingback 1.0 table (0, 16, 17, 33, 48) and the XML-RPC fault-code
//! interoperability list (-32700, -32600, -32601, -32602). No method here needs authentication,
//! so `system.multicall` cannot be used to amplify login attempts.

use crate::protocol::Rejection;
use crate::xmlrpc::{Fault, MethodCall, Value};

/// Calls one `system.multicall` may carry; each one is a full ping with its own fetch.
pub const MAX_MULTICALL_CALLS: usize = 20;

/// Every method the endpoint answers, as `system.listMethods` reports them.
pub const METHODS: [&str; 5] = [
    "pingback.ping",
    "pingback.extensions.getPingbacks",
    "system.listMethods",
    "system.getCapabilities",
    "system.multicall",
];

/// Generic pingback fault: the specific code cannot be determined.
pub const FAULT_GENERIC: i32 = 0;
/// The source URI does not exist (or could not be fetched).
pub const FAULT_SOURCE_MISSING: i32 = 0x10;
/// The source URI does not contain a link to the target URI.
pub const FAULT_NO_LINK: i32 = 0x11;
/// The target URI cannot be used as a target.
pub const FAULT_TARGET_INVALID: i32 = 0x21;
/// The pingback has already been registered.
pub const FAULT_ALREADY_REGISTERED: i32 = 0x30;
/// Access denied (a block rule).
pub const FAULT_ACCESS_DENIED: i32 = 0x31;
/// XML-RPC interop: the request is not a valid XML-RPC call.
pub const FAULT_INVALID_XMLRPC: i32 = -32600;
/// XML-RPC interop: requested method not found.
pub const FAULT_METHOD_NOT_FOUND: i32 = -32601;
/// XML-RPC interop: invalid method parameters.
pub const FAULT_INVALID_PARAMS: i32 = -32602;

/// A decoded call, ready to execute.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `pingback.ping(source, target)`.
    Ping {
        /// The linking page.
        source: String,
        /// Our article.
        target: String,
    },
    /// `pingback.extensions.getPingbacks(url)`.
    GetPingbacks {
        /// The article.
        url: String,
    },
    /// `system.listMethods()`.
    ListMethods,
    /// `system.getCapabilities()`.
    GetCapabilities,
    /// `system.multicall(calls)`: each entry decoded on its own, so one bad entry faults alone.
    Multicall(Vec<Result<Call, Fault>>),
}

/// Reads a method call into a [`Call`], or the fault the sender gets for it.
pub fn parse_call(call: &MethodCall) -> Result<Call, Fault> {
    parse(call, true)
}

fn parse(call: &MethodCall, multicall_allowed: bool) -> Result<Call, Fault> {
    let params = &call.params;
    match call.method_name.as_str() {
        "pingback.ping" => match params.as_slice() {
            [source, target] => match (source.as_str(), target.as_str()) {
                (Some(source), Some(target)) => Ok(Call::Ping {
                    source: source.to_owned(),
                    target: target.to_owned(),
                }),
                _ => Err(params_fault(
                    "pingback.ping takes two strings: sourceURI, targetURI",
                )),
            },
            _ => Err(params_fault(
                "pingback.ping takes two strings: sourceURI, targetURI",
            )),
        },
        "pingback.extensions.getPingbacks" => match params.as_slice() {
            [url] => url
                .as_str()
                .map(|url| Call::GetPingbacks {
                    url: url.to_owned(),
                })
                .ok_or_else(|| params_fault("getPingbacks takes one string: the article URL")),
            _ => Err(params_fault(
                "getPingbacks takes one string: the article URL",
            )),
        },
        "system.listMethods" if params.is_empty() => Ok(Call::ListMethods),
        "system.getCapabilities" if params.is_empty() => Ok(Call::GetCapabilities),
        "system.listMethods" | "system.getCapabilities" => {
            Err(params_fault("this method takes no parameters"))
        }
        "system.multicall" if !multicall_allowed => Err(Fault {
            code: FAULT_INVALID_XMLRPC,
            message: "Recursive calls to system.multicall are forbidden".to_owned(),
        }),
        "system.multicall" => parse_multicall(params),
        other => Err(Fault {
            code: FAULT_METHOD_NOT_FOUND,
            message: format!(
                "server error. requested method {} does not exist",
                short(other)
            ),
        }),
    }
}

fn parse_multicall(params: &[Value]) -> Result<Call, Fault> {
    let [Value::Array(calls)] = params else {
        return Err(params_fault(
            "system.multicall takes one array of {methodName, params} structs",
        ));
    };
    if calls.len() > MAX_MULTICALL_CALLS {
        return Err(params_fault(&format!(
            "system.multicall accepts at most {MAX_MULTICALL_CALLS} calls per request"
        )));
    }
    let entries = calls
        .iter()
        .map(|entry| {
            let name = entry.member("methodName").and_then(Value::as_str);
            let params = match entry.member("params") {
                Some(Value::Array(params)) => Some(params.clone()),
                None => Some(Vec::new()),
                Some(_) => None,
            };
            match (name, params) {
                (Some(name), Some(params)) => parse(
                    &MethodCall {
                        method_name: name.to_owned(),
                        params,
                    },
                    false,
                ),
                _ => Err(Fault {
                    code: FAULT_INVALID_XMLRPC,
                    message: "each multicall entry needs a string methodName and an array params"
                        .to_owned(),
                }),
            }
        })
        .collect();
    Ok(Call::Multicall(entries))
}

fn params_fault(message: &str) -> Fault {
    Fault {
        code: FAULT_INVALID_PARAMS,
        message: message.to_owned(),
    }
}

/// Bounds an echoed method name so a fault never reflects a large input back.
fn short(name: &str) -> String {
    name.chars().take(64).collect()
}

/// The fault a refused ping answers, exactly once for the whole protocol.
pub fn fault_for(rejection: &Rejection) -> Fault {
    let (code, message) = match rejection {
        Rejection::InvalidSource(_) => (
            FAULT_GENERIC,
            "The source URL is not a valid http or https URL.",
        ),
        Rejection::InvalidTarget(_) => (
            FAULT_GENERIC,
            "The target URL is not a valid http or https URL.",
        ),
        Rejection::SameUrl => (
            FAULT_GENERIC,
            "The source URL and the target URL cannot be the same.",
        ),
        Rejection::TargetUnknown => (
            FAULT_TARGET_INVALID,
            "The specified target URL cannot be used as a target. It either doesn't exist, or it is not a pingback-enabled resource.",
        ),
        Rejection::AlreadyRegistered => (
            FAULT_ALREADY_REGISTERED,
            "The pingback has already been registered.",
        ),
        Rejection::SourceUnreachable => (FAULT_SOURCE_MISSING, "The source URL does not exist."),
        Rejection::NoLinkToTarget => (
            FAULT_NO_LINK,
            "The source URL does not contain a link to the target URL, and so cannot be used as a source.",
        ),
        Rejection::Denied => (FAULT_ACCESS_DENIED, "Access denied."),
        Rejection::RateLimited { retry_after_secs } => {
            // 49 is the spec's "access denied"; the message says it is temporary.
            return Fault {
                code: FAULT_ACCESS_DENIED,
                message: format!("Too many pingbacks; try again in {retry_after_secs} seconds."),
            };
        }
        Rejection::Internal => (
            FAULT_GENERIC,
            "The pingback could not be stored; try again later.",
        ),
    };
    Fault {
        code,
        message: message.to_owned(),
    }
}

/// The success string for a verified and stored ping.
pub fn registered_message(source: &str, target: &str) -> Value {
    Value::String(format!(
        "Pingback from {source} to {target} registered. Keep the web talking! :-)"
    ))
}

/// The success string when verification goes on after the answer deadline.
pub fn continuing_message(source: &str, target: &str) -> Value {
    Value::String(format!(
        "Pingback from {source} to {target} accepted; verification of the source continues."
    ))
}

/// `system.listMethods`.
pub fn list_methods() -> Value {
    Value::Array(
        METHODS
            .iter()
            .map(|m| Value::String((*m).to_owned()))
            .collect(),
    )
}

/// `system.getCapabilities`, as IXR/WordPress advertise them.
pub fn capabilities() -> Value {
    let capability = |url: &str, version: i32| {
        Value::Struct(vec![
            ("specUrl".to_owned(), Value::String(url.to_owned())),
            ("specVersion".to_owned(), Value::Int(version)),
        ])
    };
    Value::Struct(vec![
        (
            "xmlrpc".to_owned(),
            capability("http://www.xmlrpc.com/spec", 1),
        ),
        (
            "faults_interop".to_owned(),
            capability(
                "http://xmlrpc-epi.sourceforge.net/specs/rfc.fault_codes.php",
                20_010_516,
            ),
        ),
        (
            "system.multicall".to_owned(),
            capability("http://www.xmlrpc.com/discuss/msgReader$1208", 1),
        ),
        (
            "pingback".to_owned(),
            capability("http://www.hixie.ch/specs/pingback/pingback", 1),
        ),
    ])
}

/// `system.multicall`'s result: `[value]` for a success, a fault struct for a failure.
pub fn multicall_result(results: Vec<Result<Value, Fault>>) -> Value {
    Value::Array(
        results
            .into_iter()
            .map(|result| match result {
                Ok(value) => Value::Array(vec![value]),
                Err(fault) => Value::Struct(vec![
                    ("faultCode".to_owned(), Value::Int(fault.code)),
                    ("faultString".to_owned(), Value::String(fault.message)),
                ]),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::CanonError;

    fn call(name: &str, params: Vec<Value>) -> MethodCall {
        MethodCall {
            method_name: name.to_owned(),
            params,
        }
    }

    fn s(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    #[test]
    fn reads_ping_parameters_or_faults_with_minus_32602() {
        assert_eq!(
            parse_call(&call("pingback.ping", vec![s("http://a/"), s("http://b/")])),
            Ok(Call::Ping {
                source: "http://a/".to_owned(),
                target: "http://b/".to_owned()
            })
        );
        for params in [
            vec![],
            vec![s("http://a/")],
            vec![s("a"), s("b"), s("c")],
            vec![s("a"), Value::Int(1)],
        ] {
            let fault = parse_call(&call("pingback.ping", params)).expect_err("bad params");
            assert_eq!(fault.code, FAULT_INVALID_PARAMS);
        }
    }

    #[test]
    fn unknown_methods_fault_with_minus_32601() {
        let fault = parse_call(&call("wp.getUsersBlogs", vec![])).expect_err("unknown");
        assert_eq!(fault.code, FAULT_METHOD_NOT_FOUND);
        let long = "x".repeat(10_000);
        assert!(
            parse_call(&call(&long, vec![]))
                .expect_err("unknown")
                .message
                .len()
                < 200
        );
    }

    #[test]
    fn multicall_is_bounded_and_not_recursive() {
        let entry = |name: &str, params: Vec<Value>| {
            Value::Struct(vec![
                ("methodName".to_owned(), s(name)),
                ("params".to_owned(), Value::Array(params)),
            ])
        };
        let parsed = parse_call(&call(
            "system.multicall",
            vec![Value::Array(vec![
                entry("system.listMethods", vec![]),
                entry("system.multicall", vec![Value::Array(vec![])]),
                entry("nope", vec![]),
                Value::Int(3),
            ])],
        ))
        .expect("multicall parses");
        let Call::Multicall(entries) = parsed else {
            panic!("not a multicall: {parsed:?}")
        };
        let codes: Vec<_> = entries
            .iter()
            .map(|e| e.as_ref().map_err(|f| f.code))
            .collect();
        assert_eq!(
            codes,
            vec![
                Ok(&Call::ListMethods),
                Err(FAULT_INVALID_XMLRPC),
                Err(FAULT_METHOD_NOT_FOUND),
                Err(FAULT_INVALID_XMLRPC)
            ]
        );
        let too_many = Value::Array(
            (0..=MAX_MULTICALL_CALLS)
                .map(|_| entry("system.listMethods", vec![]))
                .collect(),
        );
        assert_eq!(
            parse_call(&call("system.multicall", vec![too_many]))
                .expect_err("too many")
                .code,
            FAULT_INVALID_PARAMS
        );
        let exactly = Value::Array(
            (0..MAX_MULTICALL_CALLS)
                .map(|_| entry("system.listMethods", vec![]))
                .collect(),
        );
        assert!(parse_call(&call("system.multicall", vec![exactly])).is_ok());
    }

    #[test]
    fn every_rejection_has_its_spec_code() {
        let table = [
            (Rejection::InvalidSource(CanonError::Unparsable), 0),
            (Rejection::InvalidTarget(CanonError::Unparsable), 0),
            (Rejection::SameUrl, 0),
            (Rejection::TargetUnknown, 33),
            (Rejection::AlreadyRegistered, 48),
            (Rejection::SourceUnreachable, 16),
            (Rejection::NoLinkToTarget, 17),
            (Rejection::Denied, 49),
            (
                Rejection::RateLimited {
                    retry_after_secs: 2,
                },
                49,
            ),
            (Rejection::Internal, 0),
        ];
        for (rejection, code) in table {
            assert_eq!(fault_for(&rejection).code, code, "{rejection:?}");
        }
    }

    #[test]
    fn multicall_results_wrap_values_and_faults() {
        let result = multicall_result(vec![
            Ok(s("ok")),
            Err(Fault {
                code: 17,
                message: "no".to_owned(),
            }),
        ]);
        let Value::Array(items) = result else {
            panic!("not an array")
        };
        assert_eq!(items[0], Value::Array(vec![s("ok")]));
        assert_eq!(items[1].member("faultCode"), Some(&Value::Int(17)));
    }
}
