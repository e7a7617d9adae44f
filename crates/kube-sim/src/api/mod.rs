//! The HTTP API: routing a request to discovery, OpenAPI or object handlers, after faults,
//! authentication and authorization have had their say.

pub mod body;
pub mod discovery;
pub mod objects;
pub mod pagination;
pub mod patch;
pub mod route;
pub mod status;
pub mod table;
pub mod watch;

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::auth::Authenticator;
use crate::faults::Verdict;
use crate::openapi;
use crate::sim::Sim;
use body::Body;
use route::Route;
use status::ApiError;

/// Request bodies larger than this are refused (the real API server's limit is 3 MiB per object).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Answers one request, and logs it when the request log is on.
pub async fn handle(
    sim: Arc<Sim>,
    auth: Arc<Authenticator>,
    server_address: Arc<str>,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Body> {
    if !sim.requests.is_enabled() {
        return answer(sim, auth, server_address, request).await;
    }
    let started = std::time::Instant::now();
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
    let response = answer(Arc::clone(&sim), auth, server_address, request).await;
    sim.requests
        .record(&method, &path, response.status().as_u16(), started);
    response
}

async fn answer(
    sim: Arc<Sim>,
    auth: Arc<Authenticator>,
    server_address: Arc<str>,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Body> {
    if sim.faults.is_down() {
        // New connections are closed unanswered (server.rs); one kept alive from before the
        // outage gets a 503 and is closed too.
        let mut response = body::error(&ApiError::new(
            503,
            "ServiceUnavailable",
            "the API server is down (injected by kube-sim)",
        ));
        response.headers_mut().insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
        return response;
    }
    let latency = sim.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match sim.faults.next_verdict() {
        Verdict::Serve => {}
        Verdict::Throttle => {
            let mut err = ApiError::new(
                429,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            );
            err.retry_after = Some(1);
            return body::error(&err);
        }
        Verdict::Error(code) => {
            return body::error(&ApiError::new(
                code,
                "InternalError",
                "an error on the server (\"injected by kube-sim\") has prevented the request from succeeding",
            ));
        }
    }
    let user = match auth.check(request.headers()).await {
        Ok(user) => user,
        Err(err) => return body::error(&err),
    };
    let query = route::query(request.uri().query());
    if let Err(err) = auth.authorize(
        &sim,
        &user,
        request.method().as_str(),
        request.uri().path(),
        &query,
    ) {
        return body::error(&err);
    }
    let accept = request
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    match route(&sim, &auth, &user, &server_address, request).await {
        Ok(response) => response,
        Err(err) => body::error_for(&err, &accept),
    }
}

async fn route(
    sim: &Arc<Sim>,
    auth: &Authenticator,
    user: &crate::rbac::UserInfo,
    server_address: &str,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, ApiError> {
    let (parts, incoming) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query = route::query(parts.uri.query());
    let is_get = parts.method == hyper::Method::GET;
    match route::parse(&path) {
        Route::Version if is_get => Ok(body::json(200, &discovery::version())),
        Route::Health => Ok(body::text(200, "ok".to_owned())),
        Route::CoreVersions if is_get => {
            Ok(body::json(200, &discovery::core_versions(server_address)))
        }
        Route::Groups if is_get => Ok(body::json(200, &discovery::groups(sim.store().registry()))),
        Route::Group(group) if is_get => discovery::group(sim.store().registry(), &group)
            .map(|doc| body::json(200, &doc))
            .ok_or_else(not_found),
        Route::Resources { group, version } if is_get => {
            discovery::resources(sim.store().registry(), &group, &version)
                .map(|doc| body::json(200, &doc))
                .ok_or_else(not_found)
        }
        Route::OpenApiV3Index if is_get => {
            let store = sim.store();
            Ok(body::json(
                200,
                &openapi::v3_index_with_crds(store.registry(), &crds(&store)),
            ))
        }
        Route::OpenApiV3 { group, version } if is_get => {
            let store = sim.store();
            let crds = crds(&store);
            openapi::v3_group_version(store.registry(), &crds, &group, &version)
                .map(|doc| body::json(200, &doc))
                .ok_or_else(not_found)
        }
        Route::Object(target) => {
            let collected = http_body_util::Limited::new(incoming, MAX_BODY)
                .collect()
                .await
                .map_err(|e| {
                    ApiError::new(
                        413,
                        "RequestEntityTooLarge",
                        format!("request body refused: {e}"),
                    )
                })?;
            let header = |name: hyper::header::HeaderName| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            if crate::rbac::review::is_review(&target.group, &target.plural) {
                return crate::rbac::review::handle(
                    sim,
                    auth.mode(),
                    user,
                    parts.method.as_str(),
                    &target,
                    &header(hyper::header::CONTENT_TYPE),
                    &collected.to_bytes(),
                );
            }
            let request = objects::ObjectRequest {
                method: parts.method.as_str(),
                target,
                query,
                content_type: header(hyper::header::CONTENT_TYPE),
                accept: header(hyper::header::ACCEPT),
                user_agent: header(hyper::header::USER_AGENT),
                body: collected.to_bytes().to_vec(),
            };
            objects::handle(sim, &request)
        }
        Route::OpenApiV2 | Route::NotFound => Err(not_found()),
        _ => Err(ApiError::method_not_allowed("only GET is allowed here")),
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn crds(store: &crate::store::Store) -> Vec<serde_json::Value> {
    store
        .registry()
        .by_plural("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .map(|rt| store.list(rt, None).into_iter().cloned().collect())
        .unwrap_or_default()
}
