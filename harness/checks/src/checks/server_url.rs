//! Where the server says it listens, against where it does.

use super::view::{harness_notes, ms, witness};
use crate::{CheckResult, Entry, Observation, ServerChange, Timeline};
use serde_json::Value;

pub const SERVER_URL_AGREES: &str = "server-url-agrees";

/// The port of `http://host:port[/...]`.
fn port_of(url: &str) -> Option<u16> {
    let rest = url.split("://").nth(1)?;
    let authority = rest.split('/').next()?;
    authority.rsplit(':').next()?.parse().ok()
}

/// The listening line (`opencode server listening on URL`), the socket the server process
/// listens on (the `server-url` fixture plugin reads /proc/self inside it) and the URL
/// plugins are given (`ctx.serverUrl`) name one port. `port`: the port the server must
/// have bound for the scenario to judge at all (4096 when it was left free); another one
/// means something else took it meanwhile: no verdict.
pub fn server_url_agrees(tl: &Timeline, port: Option<u16>) -> CheckResult {
    let check = SERVER_URL_AGREES;
    let listening: Option<(&Entry, &str)> = tl.entries.iter().rev().find_map(|e| match &e.obs {
        Observation::Server(ServerChange::Listening { url }) => Some((e, url.as_str())),
        _ => None,
    });
    let Some((line, url)) = listening else {
        return CheckResult::error(check, format!("no listening line was recorded (a server the harness started prints it){}", harness_notes(tl)));
    };
    let Some(bound) = port_of(url) else {
        return CheckResult::error(check, format!("the listening line's URL {url} names no port"));
    };
    if let Some(want) = port.filter(|p| *p != bound) {
        return CheckResult::error(
            check,
            format!("the server bound port {bound}, not {want}: something else took {want} while it started, so this case cannot be judged"),
        );
    }
    let record: Option<(&Entry, &Value)> = tl.entries.iter().find_map(|e| match &e.obs {
        Observation::Plugin { record } if record["event"] == "server-url" => Some((e, record)),
        _ => None,
    });
    let Some((seen, record)) = record else {
        return CheckResult::error(check, format!("the server-url fixture plugin recorded nothing (is it loaded?){}", harness_notes(tl)));
    };
    if record.get("error").is_some() {
        return CheckResult::error(check, format!("the server-url fixture plugin could not look: {}", record["error"]));
    }
    let plugin_url = record["url"].as_str().unwrap_or("");
    let sockets: Vec<u64> = record["ports"].as_array().map_or(vec![], |a| a.iter().filter_map(Value::as_u64).collect());
    let mut problems = Vec::new();
    if !sockets.contains(&u64::from(bound)) {
        problems.push(format!("the server process listens on {sockets:?}, not on {bound}"));
    }
    if port_of(plugin_url) != Some(bound) {
        problems.push(format!("plugins are given ctx.serverUrl = {plugin_url:?}"));
    }
    let said = format!("the listening line at {} says {url}", ms(line.at_ms));
    if problems.is_empty() {
        CheckResult::pass(check, format!("{said}; the server listens on {sockets:?} and ctx.serverUrl is {plugin_url}"))
    } else {
        CheckResult::fail(check, format!("{said}, but {}", problems.join(" and ")), witness([line.seq, seen.seq]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TimelineBuilder;
    use crate::Verdict;
    use serde_json::json;

    fn timeline(listening: &str, plugin_url: &str, ports: &[u16]) -> Timeline {
        let mut b = TimelineBuilder::new();
        b.at(2000.0).push(Observation::Server(ServerChange::Listening { url: listening.into() }));
        b.at(2300.0).plugin(json!({"plugin": "server-url", "event": "server-url", "url": plugin_url, "ports": ports}));
        b.build()
    }

    #[test]
    fn agreeing_urls_and_socket_pass() {
        let r = server_url_agrees(&timeline("http://127.0.0.1:4096", "http://127.0.0.1:4096/", &[4096]), Some(4096));
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
        let r = server_url_agrees(&timeline("http://127.0.0.1:38123", "http://127.0.0.1:38123", &[38123]), None);
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn a_plugin_told_the_default_port_fails() {
        // 4096 was busy, the server bound another port, plugins still hear 4096.
        let tl = timeline("http://127.0.0.1:38123", "http://localhost:4096", &[38123]);
        let r = server_url_agrees(&tl, None);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert_eq!(r.witness, vec![0, 1]);
        assert!(r.message.contains("says http://127.0.0.1:38123, but plugins are given ctx.serverUrl = \"http://localhost:4096\""), "{}", r.message);
        let r = server_url_agrees(&timeline("http://127.0.0.1:38123", "http://127.0.0.1:38123", &[4096]), None);
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.message.contains("listens on [4096], not on 38123"), "{}", r.message);
    }

    #[test]
    fn only_the_server_url_record_is_read() {
        // Another fixture plugin's record, earlier, has no url and no ports.
        let mut b = TimelineBuilder::new();
        b.at(2000.0).push(Observation::Server(ServerChange::Listening { url: "http://127.0.0.1:4096".into() }));
        b.at(2100.0).plugin(json!({"plugin": "session-status", "event": "status", "status": "busy"}));
        b.at(2300.0).plugin(json!({"plugin": "server-url", "event": "server-url", "url": "http://127.0.0.1:4096", "ports": [4096]}));
        let r = server_url_agrees(&b.build(), Some(4096));
        assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
    }

    #[test]
    fn a_free_case_that_did_not_get_its_port_cannot_judge() {
        let r = server_url_agrees(&timeline("http://127.0.0.1:38123", "http://127.0.0.1:38123", &[38123]), Some(4096));
        assert_eq!(r.verdict, Verdict::Error, "{r:?}");
        assert!(r.message.contains("something else took 4096"), "{}", r.message);
        let r = server_url_agrees(&TimelineBuilder::new().build(), None);
        assert_eq!(r.verdict, Verdict::Error);
        let mut b = TimelineBuilder::new();
        b.push(Observation::Server(ServerChange::Listening { url: "http://127.0.0.1:1".into() }));
        assert_eq!(server_url_agrees(&b.build(), None).verdict, Verdict::Error, "no plugin record");
    }
}
