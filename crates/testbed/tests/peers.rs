//! The test bed's launchers start real peers that real clients can use, and leave nothing behind.

use std::process::Command;

use testbed::{HttpServer, LEAK_MARKER, Moto, Postgres, Response};

fn running_with_marker(needle: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", "--", needle])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn moto_answers_sts_get_caller_identity_through_aws_endpoint_url() {
    let moto = Moto::start().expect("moto starts");
    let env = moto.env();
    let get = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert!(get("AWS_ENDPOINT_URL").starts_with("http://127.0.0.1:"));

    // Configure the SDK the way a tool does: from AWS_* variables, here passed explicitly.
    let creds = aws_sdk_sts::config::Credentials::new(
        get("AWS_ACCESS_KEY_ID"),
        get("AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "testbed",
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(get("AWS_REGION")))
        .endpoint_url(get("AWS_ENDPOINT_URL"))
        .credentials_provider(creds)
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&config);
    let identity = sts
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity succeeds");
    let account = identity.account().expect("an account id");
    assert_eq!(
        account.len(),
        12,
        "moto answers with a 12-digit account id, got {account}"
    );
    assert!(
        identity
            .arn()
            .is_some_and(|arn| arn.starts_with("arn:aws:"))
    );
}

#[tokio::test]
async fn postgres_runs_a_query_with_password_auth_and_stops_cleanly() {
    let pg = Postgres::start().expect("postgres starts");
    let (client, connection) =
        tokio_postgres::connect(&pg.connection_string(), tokio_postgres::NoTls)
            .await
            .expect("connects over TCP with the password");
    let driver = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT 40 + $1::int AS answer, current_user::text",
            &[&2i32],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>("answer"), 42);
    assert_eq!(row.get::<_, String>(1), "postgres");

    // A wrong password is refused: authentication is really on.
    let wrong = pg
        .connection_string()
        .replace(pg.password(), "wrong-password");
    let refused = tokio_postgres::connect(&wrong, tokio_postgres::NoTls).await;
    assert!(refused.is_err(), "a wrong password must be refused");

    drop(client);
    let _ = driver.await;
    let data_dir = pg.data_dir().display().to_string();
    assert!(data_dir.contains(LEAK_MARKER));
    assert!(
        running_with_marker(&data_dir),
        "the server runs with its data directory on its command line"
    );
    drop(pg);
    assert!(
        !running_with_marker(&data_dir),
        "no process of this server is left after drop"
    );
    assert!(
        !std::path::Path::new(&data_dir).exists(),
        "its files are deleted"
    );
}

#[test]
fn http_server_answers_from_the_closure_and_records_requests() {
    let server = HttpServer::start(|request| match request.path() {
        "/token" => Response::json(
            200,
            &serde_json::json!({ "value": request.query("audience") }),
        ),
        _ => Response::text(404, "no such path"),
    })
    .expect("server starts");

    let reply = curl(&format!(
        "{}/token?audience=sts.amazonaws.com",
        server.url()
    ));
    assert_eq!(reply, r#"{"value":"sts.amazonaws.com"}"#);
    let missing = curl(&format!("{}/other", server.url()));
    assert_eq!(missing, "no such path");

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].query("audience"), Some("sts.amazonaws.com"));
    assert!(
        requests[0]
            .header("User-Agent")
            .is_some_and(|ua| ua.starts_with("curl/"))
    );
}

/// Fetches a URL with curl, an independent HTTP client.
fn curl(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", url])
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("curl prints UTF-8")
}
