//! Files handed to a browser or a client to save: their type, the name to save them under,
//! and never kept by a cache (they hold students' details).

use actix_web::HttpResponse;
use actix_web::HttpResponseBuilder;

/// The start of a `200 OK` answer that saves as `file_name`; add the body. The name is kept
/// to ASCII letters, digits, `.`, `-` and `_` (anything else becomes `_`), so it needs no
/// quoting and reads the same in every browser.
pub fn attachment(content_type: &str, file_name: &str) -> HttpResponseBuilder {
    let file_name: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_cannot_break_out_of_its_header() {
        let answer = attachment("text/csv", "a\"b\r\n进度.csv").finish();
        assert_eq!(
            answer.headers().get("content-disposition").unwrap(),
            "attachment; filename=\"a_b____.csv\""
        );
    }
}
