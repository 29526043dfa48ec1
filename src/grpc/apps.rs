//! AppService: decode, call the use case, encode.

use tonic::{Request, Response, Status};

use super::convert::timestamp;
use super::pb;
use super::pb::app_service_server::AppService;
use super::{deadline, namespace};
use crate::domain::app::{App, AppStatus, StripeApiKey};
use crate::domain::error::Violations;
use crate::domain::page;
use crate::domain::values::{Description, Metadata, Name, ResourceId};
use crate::domain::{Error, FieldViolation};
use crate::service::Apps;
use crate::service::apps::{AppPatch, InstallApp};

/// The AppService handlers.
#[derive(Clone, Debug)]
pub struct AppApi {
    apps: Apps,
}

impl AppApi {
    /// Handlers over the use cases.
    pub fn new(apps: Apps) -> Self {
        Self { apps }
    }
}

/// The protobuf form of an app.
pub fn app_to_pb(app: App) -> pb::App {
    pb::App {
        id: app.id,
        r#type: pb::AppType::Stripe as i32,
        name: app.name.into_string(),
        description: app
            .description
            .map(Description::into_string)
            .unwrap_or_default(),
        metadata: app.metadata.entries().clone().into_iter().collect(),
        status: match app.status {
            AppStatus::Ready => pb::AppStatus::Ready,
            AppStatus::Unauthorized => pb::AppStatus::Unauthorized,
        } as i32,
        default: app.is_default,
        stripe: Some(pb::StripeAppData {
            account_id: app.stripe_account_id,
            livemode: app.livemode,
            masked_api_key: app.masked_api_key,
            webhook_url: app.webhook_url.unwrap_or_default(),
        }),
        created_at: Some(timestamp(app.created_at)),
        updated_at: Some(timestamp(app.updated_at)),
        deleted_at: app.deleted_at.map(timestamp),
    }
}

fn app_id(field: &str, raw: &str) -> Result<String, Error> {
    ResourceId::parse(field, raw)
        .map(ResourceId::into_string)
        .map_err(|v| Error::InvalidArgument(vec![v]))
}

#[tonic::async_trait]
impl AppService for AppApi {
    async fn install_stripe_app(
        &self,
        request: Request<pb::InstallStripeAppRequest>,
    ) -> Result<Response<pb::App>, Status> {
        let (ns, deadline) = (namespace(&request), deadline(&request));
        let r = request.into_inner();
        let mut v = Violations::new();
        let api_key = v.check(StripeApiKey::parse("api_key", &r.api_key));
        let name = if r.name.is_empty() {
            Some(Name::from_stored("Stripe".to_owned()))
        } else {
            v.check(Name::parse("name", &r.name))
        };
        let description = v
            .check(Description::parse("description", &r.description))
            .flatten();
        let metadata = match Metadata::parse("metadata", &r.metadata) {
            Ok(m) => m,
            Err(errors) => {
                for e in errors {
                    v.add(e.field, e.description);
                }
                Metadata::default()
            }
        };
        let request_id = v
            .check(crate::domain::values::RequestId::parse(
                "request_id",
                &r.request_id,
            ))
            .flatten();
        v.finish()?;
        let (Some(api_key), Some(name)) = (api_key, name) else {
            return Err(Error::Internal("install parsed without key or name".into()).into());
        };
        let input = InstallApp {
            api_key,
            name,
            description,
            metadata,
            make_default: r.make_default,
        };
        let app = self.apps.install(&ns, input, request_id, deadline).await?;
        Ok(Response::new(app_to_pb(app)))
    }

    async fn get_app(
        &self,
        request: Request<pb::GetAppRequest>,
    ) -> Result<Response<pb::App>, Status> {
        let ns = namespace(&request);
        let id = app_id("id", &request.get_ref().id)?;
        Ok(Response::new(app_to_pb(self.apps.get(&ns, &id).await?)))
    }

    async fn list_apps(
        &self,
        request: Request<pb::ListAppsRequest>,
    ) -> Result<Response<pb::ListAppsResponse>, Status> {
        let ns = namespace(&request);
        let r = request.get_ref();
        let page_size = page::page_size("page_size", r.page_size)
            .map_err(|v| Error::InvalidArgument(vec![v]))?;
        let page = self
            .apps
            .list(&ns, r.show_deleted, page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListAppsResponse {
            apps: page.items.into_iter().map(app_to_pb).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn update_app(
        &self,
        request: Request<pb::UpdateAppRequest>,
    ) -> Result<Response<pb::App>, Status> {
        let (ns, deadline) = (namespace(&request), deadline(&request));
        let r = request.into_inner();
        let app = r.app.unwrap_or_default();
        let id = app_id("app.id", &app.id)?;
        let paths: Vec<String> = r.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(Error::invalid(
                "update_mask",
                "is required: name, description, metadata, default, api_key",
            )
            .into());
        }
        let mut v = Violations::new();
        let mut patch = AppPatch::default();
        for (i, path) in paths.iter().enumerate() {
            match path.as_str() {
                "name" => patch.name = v.check(Name::parse("app.name", &app.name)),
                "description" => patch.description = v.check(Description::parse("app.description", &app.description)),
                "metadata" => match Metadata::parse("app.metadata", &app.metadata) {
                    Ok(m) => patch.metadata = Some(m),
                    Err(errors) => errors.into_iter().for_each(|e| v.add(e.field, e.description)),
                },
                "default" => patch.default = Some(app.default),
                "api_key" | "apiKey" => patch.api_key = v.check(StripeApiKey::parse("api_key", &r.api_key)),
                other => v.add(
                    format!("update_mask.paths[{i}]"),
                    format!("{other:?} is not an updatable field of App (name, description, metadata, default, api_key)"),
                ),
            }
        }
        v.finish()?;
        let updated = self.apps.update(&ns, &id, patch, deadline).await?;
        Ok(Response::new(app_to_pb(updated)))
    }

    async fn uninstall_app(
        &self,
        request: Request<pb::UninstallAppRequest>,
    ) -> Result<Response<pb::App>, Status> {
        let (ns, deadline) = (namespace(&request), deadline(&request));
        let id = app_id("id", &request.get_ref().id)?;
        Ok(Response::new(app_to_pb(
            self.apps.uninstall(&ns, &id, deadline).await?,
        )))
    }
}

/// Parses an optional app id (empty: the default app).
pub fn optional_app_id(field: &str, raw: &str) -> Result<Option<String>, FieldViolation> {
    if raw.is_empty() {
        return Ok(None);
    }
    ResourceId::parse(field, raw).map(|id| Some(id.into_string()))
}
