//! The dashboard: `GET /` (one HTML page), `/assets/app.js`, `/assets/app.css` and
//! `/assets/favicon.svg`, hand-written and embedded in the binary, so it works with no
//! internet and no build step.
//!
//! The page reads only the JSON API of the same origin (`/api/v1/status`, `/api/v1/events`)
//! and renders every string with `textContent`, never as markup. It owns these routes and the
//! embedded files under `src/server/dashboard/`; it touches no actor. Every answer carries a
//! strict Content-Security-Policy (nothing but same-origin scripts, styles, images and
//! `fetch`), `X-Content-Type-Options: nosniff` and a `Cache-Control`: the page is revalidated
//! each time (`no-cache`, so a new exwatch version shows at once), the assets are cached for
//! five minutes.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

/// The page, `GET /`.
pub const INDEX_HTML: &str = include_str!("dashboard/index.html");
/// The script, `GET /assets/app.js`.
pub const APP_JS: &str = include_str!("dashboard/app.js");
/// The style sheet, `GET /assets/app.css`.
pub const APP_CSS: &str = include_str!("dashboard/app.css");
/// The icon, `GET /assets/favicon.svg`.
pub const FAVICON_SVG: &str = include_str!("dashboard/favicon.svg");

/// The Content-Security-Policy of every dashboard answer: same origin only, no inline script
/// or style, no framing, no plugins, no form posts elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Every file of the dashboard: path, content type, body.
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", INDEX_HTML),
    ("/assets/app.js", "text/javascript; charset=utf-8", APP_JS),
    ("/assets/app.css", "text/css; charset=utf-8", APP_CSS),
    ("/assets/favicon.svg", "image/svg+xml", FAVICON_SVG),
];

/// Registers the dashboard's routes (needs no application state, so a test fake can serve
/// the real page too).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for &(path, content_type, body) in ASSETS {
        let cache = if path == "/" {
            "no-cache"
        } else {
            "public, max-age=300"
        };
        cfg.service(
            super::error::resource(path, "GET")
                .route(web::get().to(move || async move { asset(content_type, cache, body) })),
        );
    }
}

fn asset(content_type: &'static str, cache: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(cache)))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .body(body)
}
