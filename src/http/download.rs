//! Files handed to a browser or a client to save: their type, the name to save them under,
//! and never kept by a cache (they hold students' details).

use actix_web::HttpResponse;
use actix_web::HttpResponseBuilder;

/// The start of a `200 OK` answer that saves as `file_name`; add the body.
pub fn attachment(content_type: &str, file_name: &str) -> HttpResponseBuilder {
    let mut answer = HttpResponse::Ok();
    answer
        .content_type(content_type)
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"{file_name}\""),
        ))
        .insert_header(("cache-control", "no-store"));
    answer
}
