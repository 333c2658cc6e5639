//! Go `text/template` rendering with docker/cli's template functions, on
//! top of the `gotmpl` crate.
//!
//! Templates are parsed with `gotmpl`'s parser and the syntax tree is
//! rewritten before execution so that output matches what the docker CLI
//! prints for its typed Go values:
//! - every printing action gets a final `__berth_show` command, which prints
//!   values the way Go's `fmt` does (`map[k:v]`, `[a b]`, floats as `%v`, an
//!   empty object nested as a map value as `{}`, JSON `null` as `<nil>`, a
//!   missing key as `<no value>`);
//! - arguments of `print`, `printf`, `println`, the comparison functions and
//!   the escapers pass through `__berth_denull`, which turns JSON `null` back
//!   into gotmpl's nil;
//! - `.Label "key"` (a method of docker's container, network and volume
//!   contexts) becomes `__berth_label . "key"`: the value of that label,
//!   read from the row's `Labels` (a map, or docker's `k=v,k2=v2` text), and
//!   in table headers the key's last dotted part with `-`/`_` as spaces;
//! - unknown function names are rejected at parse time, as Go does.
//!
//! JSON `null` is represented by a dedicated empty map (compared by pointer)
//! so that it stays distinguishable from a missing key while remaining falsy
//! in `if` / `with` and empty in `range`.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, Parser, PipeNode, Pos, SmolStr};
use gotmpl::{FuncMap, Template, TemplateError, Value};

use crate::units::go_format_g;
use crate::FormatError;

/// Name of the injected printing function.
const SHOW: &str = "__berth_show";
/// Name of the injected null-to-nil conversion function.
const DENULL: &str = "__berth_denull";
/// Name of the function `.Label "key"` is rewritten to.
const LABEL: &str = "__berth_label";
/// Name under which the rewritten main template is registered.
const MAIN: &str = "__berth_main";

/// Built-in functions of Go's `text/template` (all provided by gotmpl).
const GO_BUILTINS: &[&str] = &[
    "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne", "not", "or",
    "print", "printf", "println", "slice", "urlquery",
];

/// Functions docker/cli adds (`templates.basicFunctions`).
const DOCKER_FUNCS: &[&str] = &[
    "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
];

/// Builtins whose arguments must see JSON `null` as Go's nil.
const DENULL_FOR: &[&str] = &[
    "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge", "html", "js", "urlquery",
];

type ValueMap = BTreeMap<Arc<str>, Value>;

/// The shared map standing for JSON `null`.
static NULL: LazyLock<Arc<ValueMap>> = LazyLock::new(|| Arc::new(BTreeMap::new()));

/// Whether `v` is the JSON `null` marker.
fn is_null(v: &Value) -> bool {
    matches!(v, Value::Map(m) if Arc::ptr_eq(m, &NULL))
}

/// Converts a JSON value into template data.
pub(crate) fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Map(Arc::clone(&NULL)),
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::Uint(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::String(Arc::from(s.as_str())),
        serde_json::Value::Array(a) => Value::List(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => Value::Map(Arc::new(
            o.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), to_value(v)))
                .collect(),
        )),
    }
}

/// Converts template data back into JSON (maps come out with sorted keys,
/// like Go's encoding of a map).
fn to_json(v: &Value) -> serde_json::Value {
    #[allow(unreachable_patterns)]
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Map(_) if is_null(v) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Uint(u) => serde_json::Value::from(*u),
        Value::Float(f) => {
            // Go encodes an integral float64 without a fraction.
            if f.fract() == 0.0 && f.abs() < 9.0e18 {
                serde_json::Value::from(*f as i64)
            } else {
                serde_json::Number::from_f64(*f)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect())
        }
        Value::Function(_) => serde_json::Value::Null,
        other => serde_json::Value::String(other.to_string()),
    }
}

/// Appends `v` formatted like Go's `fmt.Print` of the corresponding typed
/// docker value. `as_map_value` is set for values nested in a map, where an
/// empty object prints as `{}` (Go's `struct{}`).
fn go_print(v: &Value, as_map_value: bool, out: &mut String) {
    #[allow(unreachable_patterns)]
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Map(_) if is_null(v) => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&u.to_string()),
        Value::Float(f) => out.push_str(&go_format_g(*f, None)),
        Value::String(s) => out.push_str(s),
        Value::List(l) => {
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_print(item, false, out);
            }
            out.push(']');
        }
        Value::Map(m) if m.is_empty() && as_map_value => out.push_str("{}"),
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                go_print(item, true, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Text of a value used as a string argument (strings bare, others as Go
/// prints them).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        other => {
            let mut s = String::new();
            go_print(other, false, &mut s);
            s
        }
    }
}

/// Replaces the JSON `null` marker by nil, recursively.
fn denull(v: &Value) -> Value {
    match v {
        Value::Map(_) if is_null(v) => Value::Nil,
        Value::Map(m) => Value::Map(Arc::new(
            m.iter().map(|(k, v)| (Arc::clone(k), denull(v))).collect(),
        )),
        Value::List(l) => Value::List(l.iter().map(denull).collect()),
        other => other.clone(),
    }
}

/// Go's error for a wrong argument count.
fn arg_count(name: &str, want: usize, args: &[Value]) -> Result<(), TemplateError> {
    if args.len() == want {
        Ok(())
    } else {
        Err(TemplateError::Exec(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )))
    }
}

/// An integer argument.
fn int_arg(name: &str, v: &Value) -> Result<i64, TemplateError> {
    match v {
        Value::Int(_) | Value::Uint(_) => v.as_int().ok_or_else(|| bad_type(name, "int", v)),
        Value::Float(f) if f.fract() == 0.0 => Ok(*f as i64),
        _ => Err(bad_type(name, "int", v)),
    }
}

/// Go-like "wrong type" error.
fn bad_type(name: &str, want: &str, got: &Value) -> TemplateError {
    TemplateError::Exec(format!(
        "error calling {name}: wrong type for value; expected {want}; got {}",
        got.type_name()
    ))
}

/// docker's `json` function: compact JSON without HTML escaping.
fn func_json(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("json", 1, args)?;
    let s = serde_json::to_string(&to_json(&args[0]))
        .map_err(|e| TemplateError::Exec(format!("error calling json: {e}")))?;
    // Go's encoder escapes these two even with SetEscapeHTML(false).
    let s = s
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    Ok(Value::from(s))
}

/// `strings.Split`.
fn func_split(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("split", 2, args)?;
    let s = text_of(&args[0]);
    let sep = text_of(&args[1]);
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::from(c.to_string())).collect()
    } else {
        s.split(sep.as_str()).map(Value::from).collect()
    };
    Ok(Value::from(parts))
}

/// `strings.Join`.
fn func_join(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("join", 2, args)?;
    let sep = text_of(&args[1]);
    let items: Vec<String> = match &args[0] {
        Value::List(l) => l.iter().map(text_of).collect(),
        Value::Map(_) if is_null(&args[0]) => Vec::new(),
        other => return Err(bad_type("join", "[]string", other)),
    };
    Ok(Value::from(items.join(&sep)))
}

/// `strings.Title`: upper-cases the first letter of each word.
fn func_title(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("title", 1, args)?;
    let s = text_of(&args[0]);
    let is_sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if is_sep(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    Ok(Value::from(out))
}

/// `strings.ToLower`.
fn func_lower(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("lower", 1, args)?;
    Ok(Value::from(text_of(&args[0]).to_lowercase()))
}

/// `strings.ToUpper`.
fn func_upper(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("upper", 1, args)?;
    Ok(Value::from(text_of(&args[0]).to_uppercase()))
}

/// docker's `pad s prefix suffix`: surrounds a non-empty string with spaces.
fn func_pad(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("pad", 3, args)?;
    let s = text_of(&args[0]);
    let pre = usize::try_from(int_arg("pad", &args[1])?).unwrap_or(0);
    let post = usize::try_from(int_arg("pad", &args[2])?).unwrap_or(0);
    if s.is_empty() {
        return Ok(Value::from(s));
    }
    Ok(Value::from(format!(
        "{}{s}{}",
        " ".repeat(pre),
        " ".repeat(post)
    )))
}

/// docker's `truncate s n`: the first `n` bytes of `s` (cut back to a
/// character boundary).
fn func_truncate(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("truncate", 2, args)?;
    let s = text_of(&args[0]);
    let n = int_arg("truncate", &args[1])?;
    let n = usize::try_from(n).map_err(|_| {
        TemplateError::Exec(format!(
            "error calling truncate: slice bounds out of range [:{n}]"
        ))
    })?;
    if s.len() < n {
        return Ok(Value::from(s));
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Ok(Value::from(&s[..end]))
}

/// `index`, with docker-friendly map semantics: a missing key of a map of
/// strings (like labels) or of `null` yields `""` (the zero value of Go's
/// `map[string]string`), otherwise nil.
fn func_index(args: &[Value]) -> gotmpl::Result<Value> {
    let Some((first, keys)) = args.split_first() else {
        return Err(TemplateError::Exec(
            "wrong number of args for index: want at least 1 got 0".to_string(),
        ));
    };
    let mut cur = first.clone();
    for key in keys {
        cur = match (&cur, key) {
            (Value::Map(m), Value::String(k)) => match m.get(k.as_ref()) {
                Some(v) => v.clone(),
                None if m.values().all(|v| matches!(v, Value::String(_))) => Value::from(""),
                None => Value::Nil,
            },
            _ => cur.index(key)?,
        };
    }
    Ok(cur)
}

/// The injected printing function.
fn func_show(args: &[Value]) -> gotmpl::Result<Value> {
    let Some(v) = args.last() else {
        return Ok(Value::from("<no value>"));
    };
    Ok(match v {
        Value::Nil => Value::from("<no value>"),
        Value::String(_) => v.clone(),
        other => {
            let mut s = String::new();
            go_print(other, false, &mut s);
            Value::from(s)
        }
    })
}

/// `.Label "key"` on a row: the label's value, or "" without it.
fn func_label(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("Label", 2, args)?;
    let Value::String(key) = &args[1] else {
        return Err(bad_type("Label", "string", &args[1]));
    };
    let labels = match &args[0] {
        Value::Map(m) => m.get("Labels").cloned(),
        _ => None,
    };
    Ok(match labels {
        Some(Value::Map(m)) => m
            .get(key.as_ref())
            .cloned()
            .unwrap_or_else(|| Value::from("")),
        Some(Value::String(text)) => Value::from(
            text.split(',')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == key.as_ref())
                .map(|(_, v)| v)
                .unwrap_or(""),
        ),
        _ => Value::from(""),
    })
}

/// `.Label "key"` in a table header (docker's `SubHeaderContext.Label`):
/// the key's last dotted part, `-` and `_` read as spaces.
fn func_label_header(args: &[Value]) -> gotmpl::Result<Value> {
    arg_count("Label", 2, args)?;
    let Value::String(key) = &args[1] else {
        return Err(bad_type("Label", "string", &args[1]));
    };
    let last = key.rsplit('.').next().unwrap_or("");
    Ok(Value::from(last.replace(['-', '_'], " ")))
}

/// The injected null-to-nil conversion function.
fn func_denull(args: &[Value]) -> gotmpl::Result<Value> {
    Ok(args.last().map(denull).unwrap_or(Value::Nil))
}

/// A header-mode function: returns its first argument unchanged (docker's
/// `HeaderFunctions`).
fn header_identity(name: &'static str, want: usize) -> impl Fn(&[Value]) -> gotmpl::Result<Value> {
    move |args: &[Value]| {
        arg_count(name, want, args)?;
        Ok(args[0].clone())
    }
}

/// The function map: docker's functions (or their header variants), the
/// `index` override and the injected helpers.
fn func_map(header: bool) -> FuncMap {
    type F = fn(&[Value]) -> gotmpl::Result<Value>;
    let mut m = FuncMap::new();
    let mut add = |name: &str, f: gotmpl::ValueFunc| {
        m.insert(name.to_string(), f);
    };
    add("pad", Arc::new(func_pad as F));
    add("index", Arc::new(func_index as F));
    add(SHOW, Arc::new(func_show as F));
    add(DENULL, Arc::new(func_denull as F));
    if header {
        add(LABEL, Arc::new(func_label_header as F));
    } else {
        add(LABEL, Arc::new(func_label as F));
    }
    if header {
        for (name, want) in [
            ("json", 1),
            ("split", 2),
            ("join", 2),
            ("title", 1),
            ("lower", 1),
            ("upper", 1),
            ("truncate", 2),
        ] {
            add(name, Arc::new(header_identity(name, want)));
        }
    } else {
        add("json", Arc::new(func_json as F));
        add("split", Arc::new(func_split as F));
        add("join", Arc::new(func_join as F));
        add("title", Arc::new(func_title as F));
        add("lower", Arc::new(func_lower as F));
        add("upper", Arc::new(func_upper as F));
        add("truncate", Arc::new(func_truncate as F));
    }
    m
}

/// Rewrites parsed trees (see the module documentation) and records the
/// first undefined function.
#[derive(Default)]
struct Rewriter {
    error: Option<String>,
}

impl Rewriter {
    fn list(&mut self, list: &mut ListNode) {
        for node in &mut list.nodes {
            self.node(node);
        }
    }

    fn node(&mut self, node: &mut Node) {
        match node {
            Node::List(l) => self.list(l),
            Node::Action(a) => {
                self.pipe(&mut a.pipe);
                if a.pipe.decl.is_empty() {
                    let pos = a.pipe.pos;
                    a.pipe.commands.push(CommandNode {
                        pos,
                        args: vec![Expr::Identifier(pos, SmolStr::new(SHOW))],
                    });
                }
            }
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                self.pipe(&mut b.pipe);
                self.list(&mut b.body);
                if let Some(e) = &mut b.else_body {
                    self.list(e);
                }
            }
            Node::Template(t) => {
                if let Some(p) = &mut t.pipe {
                    self.pipe(p);
                }
            }
            Node::Define(d) => self.list(&mut d.body),
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }

    fn pipe(&mut self, pipe: &mut PipeNode) {
        let commands = std::mem::take(&mut pipe.commands);
        for (i, mut cmd) in commands.into_iter().enumerate() {
            label_method(&mut cmd);
            for arg in &mut cmd.args {
                self.expr(arg);
            }
            let needs_denull = matches!(
                cmd.args.first(),
                Some(Expr::Identifier(_, name)) if DENULL_FOR.contains(&name.as_str())
            );
            if needs_denull {
                for arg in cmd.args.iter_mut().skip(1) {
                    wrap_denull(arg);
                }
                if i > 0 {
                    pipe.commands.push(CommandNode {
                        pos: cmd.pos,
                        args: vec![Expr::Identifier(cmd.pos, SmolStr::new(DENULL))],
                    });
                }
            }
            pipe.commands.push(cmd);
        }
    }

    fn expr(&mut self, e: &mut Expr) {
        match e {
            Expr::Identifier(pos, name) => {
                let known = GO_BUILTINS.contains(&name.as_str())
                    || DOCKER_FUNCS.contains(&name.as_str())
                    || name == LABEL;
                if !known && self.error.is_none() {
                    self.error = Some(format!(
                        "template: :{}: function {:?} not defined",
                        pos.line,
                        name.as_str()
                    ));
                }
            }
            Expr::Pipe(_, p) => self.pipe(p),
            Expr::Chain(_, inner, _) => self.expr(inner),
            _ => {}
        }
    }
}

/// Rewrites a command `RECEIVER.Label ARGS…` into `__berth_label RECEIVER
/// ARGS…` (a method call, which data maps cannot answer).
fn label_method(cmd: &mut CommandNode) {
    if cmd.args.len() < 2 {
        return;
    }
    let receiver = match &cmd.args[0] {
        Expr::Field(pos, chain) if chain.last().is_some_and(|f| f == "Label") => {
            if chain.len() == 1 {
                Expr::Dot(*pos)
            } else {
                Expr::Field(*pos, chain[..chain.len() - 1].to_vec())
            }
        }
        Expr::Variable(pos, name, chain) if chain.last().is_some_and(|f| f == "Label") => {
            Expr::Variable(*pos, name.clone(), chain[..chain.len() - 1].to_vec())
        }
        _ => return,
    };
    let pos = cmd.args[0].pos();
    cmd.args[0] = receiver;
    cmd.args
        .insert(0, Expr::Identifier(pos, SmolStr::new(LABEL)));
}

/// Wraps a non-literal argument `x` as `(__berth_denull x)`.
fn wrap_denull(arg: &mut Expr) {
    if matches!(
        arg,
        Expr::String(..) | Expr::Number(..) | Expr::Bool(..) | Expr::Nil(_)
    ) {
        return;
    }
    let pos: Pos = arg.pos();
    let inner = std::mem::replace(arg, Expr::Nil(pos));
    *arg = Expr::Pipe(
        pos,
        PipeNode {
            pos,
            decl: Vec::new(),
            commands: vec![CommandNode {
                pos,
                args: vec![Expr::Identifier(pos, SmolStr::new(DENULL)), inner],
            }],
            is_assign: false,
        },
    );
}

/// Formats a gotmpl error the way Go's `text/template` does.
fn template_error(e: TemplateError) -> FormatError {
    let msg = match e {
        TemplateError::Parse { line, message, .. } | TemplateError::Lex { line, message, .. } => {
            format!("template: :{line}: {message}")
        }
        TemplateError::Exec(m) => format!("template: executing \"\": {m}"),
        other => format!("template: executing \"\": {other}"),
    };
    FormatError::Template(msg)
}

/// A parsed, rewritten template ready to execute.
pub(crate) struct Compiled {
    tmpl: Template,
}

impl Compiled {
    /// Parses `src` with docker's functions (`header` selects docker's
    /// `HeaderFunctions` variants used to render table headers).
    pub(crate) fn new(src: &str, header: bool) -> Result<Compiled, FormatError> {
        let (mut tree, mut defines) = Parser::with_name(None, src, "{{", "}}")
            .and_then(Parser::parse)
            .map_err(template_error)?;
        let mut rw = Rewriter::default();
        rw.list(&mut tree);
        for d in &mut defines {
            rw.list(&mut d.body);
        }
        if let Some(msg) = rw.error {
            return Err(FormatError::Template(msg));
        }
        let mut tmpl = Template::new("")
            .funcs(func_map(header))
            .parse(&format!("{{{{template \"{MAIN}\" .}}}}"))
            .map_err(template_error)?
            .add_parse_tree(MAIN, tree);
        for d in defines {
            tmpl = tmpl.add_parse_tree(d.name.as_str(), d.body);
        }
        Ok(Compiled { tmpl })
    }

    /// Executes the template on `data`, appending to `out`. On error the
    /// output produced so far stays in `out`.
    pub(crate) fn execute(&self, data: &Value, out: &mut String) -> Result<(), FormatError> {
        self.tmpl.execute_fmt(out, data).map_err(template_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(src: &str, data: serde_json::Value) -> Result<String, String> {
        let c = Compiled::new(src, false).map_err(|e| e.to_string())?;
        let mut out = String::new();
        c.execute(&to_value(&data), &mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn ok(src: &str, data: serde_json::Value) -> String {
        match render(src, data) {
            Ok(s) => s,
            Err(e) => panic!("{src}: {e}"),
        }
    }

    #[test]
    fn value_printing() {
        let d = json!({
            "S": "str", "I": 42, "N": -7, "F": 1.5, "FI": 2.0, "Big": 1e6, "B": true,
            "Null": null, "Arr": ["a", "b", "c"], "Empty": {}, "EmptyArr": [],
            "Labels": {"z": "1", "a": "2"},
            "Nested": {"k": {"x": null, "y": [1, 2]}},
            "Config": {"ExposedPorts": {"80/tcp": {}, "443/tcp": {}}}
        });
        let cases = [
            ("{{.S}}", "str"),
            ("{{.I}} {{.N}}", "42 -7"),
            ("{{.F}} {{.FI}} {{.Big}}", "1.5 2 1e+06"),
            ("{{.B}}", "true"),
            ("{{.Null}}", "<nil>"),
            ("{{.Missing}}", "<no value>"),
            ("{{.Arr}}", "[a b c]"),
            ("{{.EmptyArr}}", "[]"),
            ("{{.Empty}}", "map[]"),
            ("{{.Labels}}", "map[a:2 z:1]"),
            ("{{.Nested}}", "map[k:map[x:<nil> y:[1 2]]]"),
            ("{{.Config.ExposedPorts}}", "map[443/tcp:{} 80/tcp:{}]"),
            ("{{if .Null}}yes{{else}}no{{end}}", "no"),
            ("{{with .Null}}yes{{else}}no{{end}}", "no"),
            ("{{range .Null}}x{{end}}", ""),
            ("{{printf \"%v\" .Null}}", "<nil>"),
            ("{{.Null | printf \"%v\"}}", "<nil>"),
            ("{{printf \"%s-%d\" .S .I}}", "str-42"),
            ("{{len .Arr}}", "3"),
            ("{{index .Arr 1}}", "b"),
            (
                "{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}",
                "a=2;z=1;",
            ),
            ("{{$x := .S}}{{$x}}", "str"),
            ("{{if eq .S \"str\"}}eq{{end}}", "eq"),
            (
                "{{define \"t\"}}[{{.}}]{{end}}{{template \"t\" .S}}",
                "[str]",
            ),
            ("{{(index .Nested \"k\").y}}", "[1 2]"),
        ];
        for (src, want) in cases {
            assert_eq!(ok(src, d.clone()), want, "{src}");
        }
    }

    #[test]
    fn docker_functions() {
        let d = json!({
            "Name": "web-App", "Names": ["a", "b"], "Labels": {"k": "v"},
            "Obj": {"b": 1, "a": "<&>"}, "Csv": "x,y,z", "Empty": ""
        });
        let cases = [
            ("{{json .Names}}", r#"["a","b"]"#),
            ("{{json .Obj}}", r#"{"a":"<&>","b":1}"#),
            ("{{json .Name}}", r#""web-App""#),
            ("{{json .Missing}}", "null"),
            ("{{join .Names \",\"}}", "a,b"),
            ("{{split .Csv \",\"}}", "[x y z]"),
            ("{{index (split .Csv \",\") 2}}", "z"),
            ("{{upper .Name}}", "WEB-APP"),
            ("{{lower .Name}}", "web-app"),
            (
                "{{title \"hello wide_world foo-bar\"}}",
                "Hello Wide_world Foo-Bar",
            ),
            ("{{pad .Name 2 1}}|", "  web-App |"),
            ("{{pad .Empty 2 1}}|", "|"),
            ("{{truncate .Name 3}}", "web"),
            ("{{truncate .Name 30}}", "web-App"),
            ("{{index .Labels \"k\"}}", "v"),
            ("{{index .Labels \"nope\"}}", ""),
            ("{{println .Name}}", "web-App\n"),
            // The Label method of docker's contexts, on a map or on the
            // `k=v,...` text that ps prints.
            ("{{.Label \"k\"}}", "v"),
            ("{{.Label \"nope\"}}|", "|"),
            ("{{$r := .}}{{$r.Label \"k\"}}", "v"),
            ("{{.Label \"k\" | upper}}", "V"),
        ];
        for (src, want) in cases {
            assert_eq!(ok(src, d.clone()), want, "{src}");
        }
        let row = json!({"Labels": "com.a=1,com.b.my-key=x=y"});
        assert_eq!(ok("{{.Label \"com.b.my-key\"}}", row.clone()), "x=y");
        assert_eq!(ok("{{.Label \"com.a\"}}", row), "1");
    }

    #[test]
    fn label_method_in_headers() {
        let c = Compiled::new("{{.Label \"com.example.my-key_x\"}}", true).unwrap();
        let mut out = String::new();
        c.execute(&to_value(&json!({})), &mut out).unwrap();
        assert_eq!(out, "my key x");
    }

    #[test]
    fn errors() {
        assert_eq!(
            render("{{foo .Name}}", json!({})),
            Err("template parsing error: template: :1: function \"foo\" not defined".to_string())
        );
        assert_eq!(
            render("line1\n{{.A | bar}}", json!({})),
            Err("template parsing error: template: :2: function \"bar\" not defined".to_string())
        );
        let e = render("{{.Name", json!({})).err().unwrap_or_default();
        assert!(
            e.starts_with("template parsing error: template: :1: "),
            "{e}"
        );
        let e = render("{{join .Names}}", json!({"Names": []}))
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("wrong number of args for join: want 2 got 1"),
            "{e}"
        );
    }
}
