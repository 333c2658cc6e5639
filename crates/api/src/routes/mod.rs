//! The route table: every Engine API path berth serves, and the fallbacks
//! (`page not found`) Docker answers with.

mod archive;
mod attach_ws;
mod build;
mod containers;
mod events;
mod exec;
mod images;
mod networks;
mod system;
mod volumes;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use berth_engine::Engine;

/// Shared state of the handlers.
pub type State = Arc<Engine>;

/// Builds the router (without the version layer).
pub fn router(engine: State) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/auth", post(system::auth))
        .route("/system/df", get(system::df))
        .route("/events", get(events::events))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/load", post(images::load))
        .route("/images/get", get(images::save_many))
        .route("/images/prune", post(images::prune))
        .route("/images/search", get(images::search))
        .route(
            "/images/{*rest}",
            get(images::get_dispatch)
                .post(images::post_dispatch)
                .delete(images::remove),
        )
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route("/commit", post(containers::commit))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/changes", get(containers::changes))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/{id}/export", get(containers::export))
        .route("/containers/{id}/stats", get(containers::stats))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/attach/ws", get(attach_ws::attach_ws))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/containers/{id}/exec", post(exec::create))
        .route("/containers/{id}/resize", post(exec::resize_container))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .fallback(not_found)
        .with_state(engine)
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"message": "page not found"})),
    )
}
