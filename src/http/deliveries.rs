//! Admins' routes for the 学信网 delivery: make a package of a batch's (or a school's) approved
//! photos, list packages with their downloads, download one (which marks its captures 上网中),
//! mark one completed.

use actix_web::{web, HttpResponse};
use futures::{Stream, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::download::attachment;
use super::error::{ApiError, ErrorBody};
use super::extract::{limit_within, Admins, Auth, CommandContext};
use crate::delivery::{DeliveryError, Download, Package, PackageFile};
use crate::eligibility::cohort::Cohort;
use crate::http::state::AppState;
use crate::telemetry::ErrorChain;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPackageBody {
    /// The batch, by feature code.
    batch: Option<String>,
    /// Every batch of the school, by name (instead of `batch`).
    school: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/admin/deliveries", tag = "admins", request_body = NewPackageBody, security(("bearer" = [])),
    responses((status = 201, description = "The package: `{package_id, school_id, batch_id, created_by, created_at, file_name, manifest_sha256, captures, completed_at, completed_by}`", body = Object),
        (status = 409, description = "`delivery.nothing_to_deliver`", body = ErrorBody), (status = 422, description = "`eligibility.invalid_input` unless exactly one of `batch` and `school` is given", body = ErrorBody), (status = "4XX", body = ErrorBody)))]
/// `POST /admin/deliveries {batch | school}`: a package of every approved capture not yet
/// delivered nor in another package.
pub async fn prepare(
    state: web::Data<AppState>,
    caller: Auth<Admins>,
    body: web::Json<NewPackageBody>,
) -> Result<HttpResponse, ApiError> {
    let package = state
        .deliveries
        .prepare(
            &Cohort::parse(body.batch.as_deref(), body.school.as_deref())?,
            &caller.subject,
        )
        .await?;
    Ok(HttpResponse::Created().json(package))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PackagesQuery {
    /// 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[derive(Serialize)]
struct ListedPackage {
    #[serde(flatten)]
    package: Package,
    downloads: Vec<Download>,
}

#[utoipa::path(get, path = "/api/v1/admin/deliveries", tag = "admins", params(PackagesQuery), security(("bearer" = [])),
    responses((status = 200, description = "`{packages: [{…the package, downloads: [{downloaded_by, downloaded_at}]}]}`, newest first", body = Object), (status = "4XX", body = ErrorBody)))]
/// `GET /admin/deliveries`: the packages, newest first, each with who downloaded it and when.
pub async fn list(
    state: web::Data<AppState>,
    _caller: Auth<Admins>,
    query: web::Query<PackagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit_within(query.limit, 50, 500)? as u32;
    let packages: Vec<ListedPackage> = state
        .deliveries
        .list(limit)
        .await?
        .into_iter()
        .map(|(package, downloads)| ListedPackage { package, downloads })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "packages": packages })))
}

#[utoipa::path(post, path = "/api/v1/admin/deliveries/{package_id}/download", tag = "admins", params(("package_id" = String, Path, description = "The package")), security(("bearer" = [])),
    responses((status = 200, description = "The ZIP: `<学历类别>/<证件号码>.jpg` and `manifest.csv`", content_type = "application/zip", body = Vec<u8>), (status = 404, description = "`delivery.unknown_package`", body = ErrorBody), (status = "4XX", body = ErrorBody)))]
/// `POST /admin/deliveries/{id}/download`: the package's ZIP. The download is recorded and
/// every capture in it marked 上网中 first; every download is the same bytes.
pub async fn download(
    state: web::Data<AppState>,
    caller: Auth<Admins>,
    ctx: CommandContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let file = state
        .deliveries
        .download(&path, &ctx.requester(&caller))
        .await?;
    Ok(zip_response(file))
}

#[utoipa::path(post, path = "/api/v1/admin/deliveries/{package_id}/completed", tag = "admins", params(("package_id" = String, Path, description = "The package")), security(("bearer" = [])),
    responses((status = 200, description = "The package", body = Object), (status = 404, description = "`delivery.unknown_package`", body = ErrorBody), (status = "4XX", body = ErrorBody)))]
/// `POST /admin/deliveries/{id}/completed`: 学信网 shows the package's photos: every capture
/// in it is marked 已完成.
pub async fn completed(
    state: web::Data<AppState>,
    caller: Auth<Admins>,
    ctx: CommandContext,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let package = state
        .deliveries
        .complete(&path, &ctx.requester(&caller))
        .await?;
    Ok(HttpResponse::Ok().json(package))
}

/// The package's ZIP as an attachment under its file name, streamed. A failure after the first
/// byte (a photo the store lost) cuts the download short, and is logged whole.
pub fn zip_response(
    file: PackageFile<impl Stream<Item = Result<web::Bytes, DeliveryError>> + 'static>,
) -> HttpResponse {
    let package_id = file.package.package_id.clone();
    let body = file.body.inspect_err(move |e| {
        tracing::error!(package_id, error = %ErrorChain(e), code = e.code(), "delivery package cut short");
    });
    attachment("application/zip", &file.package.file_name).streaming(body)
}
