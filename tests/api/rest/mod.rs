//! The OpenMeter v1 REST API through the wire: a small HTTP/1.1 client, then scenarios per
//! resource. Every storage-touching scenario runs on SQLite and PostgreSQL.

mod apps_and_customer_apps;
mod customers;
mod errors;
mod events_subjects;
mod openapi;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer: status, headers (names lower-cased), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {:?} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The problem document of an error answer, checked for the content type and fields every
    /// problem has.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        for field in ["type", "title", "detail", "instance"] {
            assert!(p[field].is_string(), "{field} missing in {p}");
        }
        p
    }

    /// The JSON paths a 400 problem names.
    pub fn bad_fields(&self) -> Vec<String> {
        let p = self.problem(400);
        p["extensions"]["validationErrors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A REST client of one patron, with an optional API key.
#[derive(Clone, Debug)]
pub struct Rest {
    pub addr: SocketAddr,
    pub key: Option<String>,
}

fn chunked(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            std::str::from_utf8(&raw[..line_end])
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
}

impl Rest {
    pub fn new(addr: SocketAddr, key: Option<&str>) -> Self {
        Self {
            addr,
            key: key.map(str::to_owned),
        }
    }

    /// Sends one request (Connection: close) and reads the whole answer, within 20 s.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Answer {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: patron\r\nConnection: close\r\n");
        if let Some(key) = &self.key {
            head.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        if let Some(t) = content_type {
            head.push_str(&format!("Content-Type: {t}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
            stream.write_all(head.as_bytes()).await.unwrap();
            // The server may answer (413) before reading a large body.
            let _ = stream.write_all(body).await;
            let mut raw = Vec::new();
            let _ = stream.read_to_end(&mut raw).await;
            raw
        };
        let raw = tokio::time::timeout(Duration::from_secs(20), exchange)
            .await
            .expect("answered within 20 s");
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete head");
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
        {
            body = chunked(&body);
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None, b"").await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send("DELETE", path, None, b"").await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(
            "POST",
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send(
            "PUT",
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
        .await
    }
}

/// A client without an API key of `app`.
pub fn open(app: &crate::helpers::TestApp) -> Rest {
    Rest::new(app.http_addr, None)
}

/// Where `value` differs from `schema` of the OpenAPI document `doc` (`$ref`s resolved): a key the
/// schema does not list, a required key missing, a value of another type.
pub fn schema_errors(doc: &Value, schema: &Value, value: &Value, path: &str) -> Vec<String> {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.trim_start_matches("#/components/schemas/");
        return schema_errors(doc, &doc["components"]["schemas"][name], value, path);
    }
    let mut errors = Vec::new();
    let kind_ok = match schema["type"].as_str() {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        _ => true,
    };
    if !kind_ok {
        errors.push(format!("{path}: {value} is not of type {}", schema["type"]));
        return errors;
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object())
    {
        for (key, item) in object {
            match properties.get(key) {
                Some(s) => errors.extend(schema_errors(doc, s, item, &format!("{path}.{key}"))),
                None => errors.push(format!("{path}.{key} is not in the document")),
            }
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                errors.push(format!("{path}.{name} is required but missing"));
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            errors.extend(schema_errors(doc, items, item, &format!("{path}[{i}]")));
        }
    }
    errors
}

/// Checks that `answer` (a success) matches the document's response schema of `operation_id`.
pub async fn assert_documented(rest: &Rest, operation_id: &str, answer: &Value) {
    let doc = rest.get("/api/v1/openapi.json").await.json();
    let operation = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .find(|op| op["operationId"] == operation_id)
        .unwrap_or_else(|| panic!("{operation_id} is not documented"))
        .clone();
    let (_, success) = operation["responses"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(status, _)| status.starts_with('2'))
        .unwrap();
    let schema = &success["content"]["application/json"]["schema"];
    let errors = schema_errors(&doc, schema, answer, operation_id);
    assert!(errors.is_empty(), "{errors:#?}");
}

/// A concrete path for a templated one (every parameter filled with a valid-looking value).
pub fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment == "{type}" {
                "stripe".to_owned()
            } else if segment.starts_with('{') {
                "01JDJM1WF8Y461YQ9F0EW4WHY2".to_owned()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
