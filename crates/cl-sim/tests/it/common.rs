//! Drives the simulator through the generated `cl-api` client in either dialect, so each rule is
//! tested once and run for both `/api` and `/rest`.

#![allow(dead_code)]

use cl_api::types::*;
use cl_api::{Client, Error, Hooks};
use cl_sim::{SimConfig, Simulator};

pub use cl_api::Dialect;

pub const BOTH: [Dialect; 2] = [Dialect::Api, Dialect::Rest];

/// An error as the server sent it: the HTTP status and the std error's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub error_type: String,
    pub message: String,
}

pub type R<T> = Result<T, Failure>;

/// Runs a call and turns its error into a [`Failure`]; undocumented statuses (a 503 the spec
/// does not list for that operation) are decoded from the body too.
async fn call<T, E: std::fmt::Debug + 'static>(
    future: impl std::future::Future<Output = Result<cl_api::ResponseValue<T>, Error<E>>>,
) -> R<T> {
    match future.await {
        Ok(value) => Ok(value.into_inner()),
        Err(Error::ErrorResponse(response)) => {
            let status = response.status().as_u16();
            let any: &dyn std::any::Any = &*response;
            if let Some(e) = any.downcast_ref::<StdError>() {
                return Err(from_std(status, e, None));
            }
            if let Some(e) = any.downcast_ref::<RestError>() {
                return Err(from_rest(status, e));
            }
            panic!("unexpected error body {response:?}")
        }
        Err(Error::UnexpectedResponse(response)) => {
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.expect("error bodies are JSON");
            if let Ok(e) = serde_json::from_value::<RestError>(body.clone()) {
                return Err(from_rest(status, &e));
            }
            let e: StdError = serde_json::from_value(body).expect("a std error body");
            Err(from_std(status, &e, None))
        }
        Err(other) => panic!("not a server error: {other:?}"),
    }
}

fn from_std(status: u16, e: &StdError, kind: Option<String>) -> Failure {
    let message = e.messages.first().map(|m| m.default_message.clone()).unwrap_or_default();
    let error_type = kind.unwrap_or_else(|| e.error_type.as_ref().map(|t| t.to_string()).unwrap_or_default());
    Failure { status, error_type, message }
}

fn from_rest(status: u16, e: &RestError) -> Failure {
    let kind = e.type_.rsplit('.').next().unwrap_or_default().to_uppercase();
    assert_eq!(e.value.error_type.as_ref().map(|t| t.to_string()), Some(kind.clone()), "type and error_type agree");
    from_std(status, &e.value, Some(kind))
}

pub struct Cl {
    pub dialect: Dialect,
    pub client: Client,
    pub hooks: Hooks,
    pub http: reqwest::Client,
}

/// A plain-HTTP simulator with a short prepare delay.
pub async fn sim() -> Simulator {
    sim_with(|_| {}).await
}

pub async fn sim_with(adjust: impl FnOnce(&mut SimConfig)) -> Simulator {
    let mut config = SimConfig::default().plain_http();
    config.service.prepare_delay = std::time::Duration::from_millis(40);
    adjust(&mut config);
    Simulator::start(config).await.expect("simulator starts")
}

impl Cl {
    /// A client of `sim` in `dialect`, logged in.
    pub async fn login(sim: &Simulator, dialect: Dialect) -> Self {
        let cl = Self::anonymous(sim, dialect);
        let token = cl.login_with(sim.username(), sim.password()).await.expect("login");
        cl.hooks.set_session_id(Some(&token)).expect("the simulator issues header-safe tokens");
        cl
    }

    pub fn anonymous(sim: &Simulator, dialect: Dialect) -> Self {
        cl_tls::install_crypto_provider();
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = sim.ca_pem() {
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
        }
        let http = builder.build().unwrap();
        let hooks = Hooks::default();
        let client = Client::new_with_client(sim.url(), http.clone(), hooks.clone());
        Self { dialect, client, hooks, http }
    }

    pub async fn login_with(&self, user: &str, password: &str) -> R<String> {
        self.hooks.set_login(Some((user, password)));
        let result = match self.dialect {
            Dialect::Api => call(self.client.session_create()).await,
            Dialect::Rest => call(self.client.rest_session_create()).await.map(|v| v.value),
        };
        self.hooks.set_login(None);
        result
    }

    pub async fn session_user(&self) -> R<String> {
        match self.dialect {
            Dialect::Api => call(self.client.session_get()).await.map(|v| v.user),
            Dialect::Rest => call(self.client.rest_session_get()).await.map(|v| v.value.user),
        }
    }

    pub async fn logout(&self) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.session_delete()).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_session_delete()).await.map(|_| ()),
        }
    }

    pub async fn library_create(&self, spec: LibraryModel) -> R<String> {
        match self.dialect {
            Dialect::Api => call(self.client.local_library_create(None, &spec)).await,
            Dialect::Rest => {
                let body = RestLibraryCreate { client_token: None, create_spec: spec };
                call(self.client.rest_local_library_create(&body)).await.map(|v| v.value)
            }
        }
    }

    pub async fn library(&self, name: &str) -> String {
        let spec = LibraryModel {
            name: Some(name.into()),
            type_: Some(LibraryType::Local),
            storage_backings: vec![StorageBacking {
                type_: Some(StorageBackingType::Datastore),
                datastore_id: Some(cl_sim::DATASTORE_ID.into()),
                storage_uri: None,
            }],
            ..Default::default()
        };
        self.library_create(spec).await.expect("library create")
    }

    pub async fn library_find(&self, name: &str) -> R<Vec<String>> {
        let spec = LibraryFindSpec { name: Some(name.into()), type_: None };
        match self.dialect {
            Dialect::Api => call(self.client.library_find(&spec)).await,
            Dialect::Rest => call(self.client.rest_library_find(&RestLibraryFind { spec }))
                .await
                .map(|v| v.value.unwrap_or_default()),
        }
    }

    pub async fn library_delete(&self, id: &str) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.local_library_delete(id)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_local_library_delete(id)).await.map(|_| ()),
        }
    }

    pub async fn library_get(&self, id: &str) -> R<LibraryModel> {
        match self.dialect {
            Dialect::Api => call(self.client.library_get(id)).await,
            Dialect::Rest => call(self.client.rest_library_get(id)).await.map(|v| v.value),
        }
    }

    pub async fn library_update(&self, id: &str, spec: LibraryModel) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.library_update(id, &spec)).await.map(|_| ()),
            Dialect::Rest => {
                call(self.client.rest_library_update(id, &RestLibraryUpdate { update_spec: spec })).await.map(|_| ())
            }
        }
    }

    pub async fn item_update(&self, id: &str, spec: ItemModel) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.item_update(id, &spec)).await.map(|_| ()),
            Dialect::Rest => {
                call(self.client.rest_item_update(id, &RestItemUpdate { update_spec: spec })).await.map(|_| ())
            }
        }
    }

    pub async fn item_create(&self, library: &str, name: &str, token: Option<&str>) -> R<String> {
        let spec = ItemModel {
            library_id: Some(library.into()),
            name: Some(name.into()),
            type_: Some("file".into()),
            ..Default::default()
        };
        match self.dialect {
            Dialect::Api => call(self.client.item_create(token, &spec)).await,
            Dialect::Rest => {
                let body = RestItemCreate { client_token: token.map(Into::into), create_spec: spec };
                call(self.client.rest_item_create(&body)).await.map(|v| v.value)
            }
        }
    }

    pub async fn item(&self, library: &str, name: &str) -> String {
        self.item_create(library, name, None).await.expect("item create")
    }

    pub async fn item_get(&self, id: &str) -> R<ItemModel> {
        match self.dialect {
            Dialect::Api => call(self.client.item_get(id)).await,
            Dialect::Rest => call(self.client.rest_item_get(id)).await.map(|v| v.value),
        }
    }

    pub async fn item_list(&self, library: &str) -> R<Vec<String>> {
        match self.dialect {
            Dialect::Api => call(self.client.item_list(library)).await,
            Dialect::Rest => call(self.client.rest_item_list(library)).await.map(|v| v.value.unwrap_or_default()),
        }
    }

    pub async fn item_find(&self, library: &str, name: &str) -> R<Vec<String>> {
        let spec = ItemFindSpec { name: Some(name.into()), library_id: Some(library.into()), ..Default::default() };
        match self.dialect {
            Dialect::Api => call(self.client.item_find(&spec)).await,
            Dialect::Rest => {
                call(self.client.rest_item_find(&RestItemFind { spec })).await.map(|v| v.value.unwrap_or_default())
            }
        }
    }

    pub async fn item_delete(&self, id: &str) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.item_delete(id)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_item_delete(id)).await.map(|_| ()),
        }
    }

    pub async fn item_files(&self, id: &str) -> R<Vec<ItemFileInfo>> {
        match self.dialect {
            Dialect::Api => call(self.client.item_file_list(id)).await,
            Dialect::Rest => call(self.client.rest_item_file_list(id)).await.map(|v| v.value.unwrap_or_default()),
        }
    }

    pub async fn item_file(&self, id: &str, name: &str) -> R<ItemFileInfo> {
        match self.dialect {
            Dialect::Api => call(self.client.item_file_get(id, name)).await,
            Dialect::Rest => {
                let body = ItemFileNameSpec { name: name.into() };
                call(self.client.rest_item_file_get(id, &body)).await.map(|v| v.value)
            }
        }
    }

    // ------------------------------------------------------------------ update sessions

    pub async fn update_create(&self, item: &str, token: Option<&str>) -> R<String> {
        let spec = UpdateSessionModel { library_item_id: Some(item.into()), ..Default::default() };
        match self.dialect {
            Dialect::Api => call(self.client.update_session_create(token, &spec)).await,
            Dialect::Rest => {
                let body = RestUpdateSessionCreate { client_token: token.map(Into::into), create_spec: spec };
                call(self.client.rest_update_session_create(&body)).await.map(|v| v.value)
            }
        }
    }

    pub async fn update_get(&self, id: &str) -> R<UpdateSessionModel> {
        match self.dialect {
            Dialect::Api => call(self.client.update_session_get(id)).await,
            Dialect::Rest => call(self.client.rest_update_session_get(id)).await.map(|v| v.value),
        }
    }

    pub async fn update_list(&self, item: Option<&str>) -> R<Vec<String>> {
        match self.dialect {
            Dialect::Api => call(self.client.update_session_list(item)).await,
            Dialect::Rest => {
                call(self.client.rest_update_session_list(item)).await.map(|v| v.value.unwrap_or_default())
            }
        }
    }

    pub async fn update_patch(&self, id: &str, behavior: Vec<WarningBehavior>) -> R<()> {
        let spec = UpdateSessionModel { warning_behavior: behavior, ..Default::default() };
        match self.dialect {
            Dialect::Api => call(self.client.update_session_update(id, &spec)).await.map(|_| ()),
            Dialect::Rest => {
                call(self.client.rest_update_session_update(id, &RestUpdateSessionUpdate { update_spec: spec }))
                    .await
                    .map(|_| ())
            }
        }
    }

    pub async fn update_complete(&self, id: &str) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.update_session_complete(id)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_update_session_complete(id)).await.map(|_| ()),
        }
    }

    pub async fn update_cancel(&self, id: &str) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.update_session_cancel(id)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_update_session_cancel(id)).await.map(|_| ()),
        }
    }

    pub async fn update_fail(&self, id: &str, message: &str) -> R<()> {
        let body = FailSpec { client_error_message: message.into() };
        match self.dialect {
            Dialect::Api => call(self.client.update_session_fail(id, &body)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_update_session_fail(id, &body)).await.map(|_| ()),
        }
    }

    pub async fn update_keep_alive(&self, id: &str, progress: Option<i64>) -> R<()> {
        let body = UpdateSessionKeepAliveSpec { client_progress: progress };
        match self.dialect {
            Dialect::Api => call(self.client.update_session_keep_alive(id, &body)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_update_session_keep_alive(id, &body)).await.map(|_| ()),
        }
    }

    pub async fn update_delete(&self, id: &str) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.update_session_delete(id)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_update_session_delete(id)).await.map(|_| ()),
        }
    }

    pub async fn file_add(&self, id: &str, spec: UpdateFileAddSpec) -> R<UpdateFileInfo> {
        match self.dialect {
            Dialect::Api => call(self.client.update_session_file_add(id, &spec)).await,
            Dialect::Rest => call(self.client.rest_update_session_file_add(id, &RestFileAddSpec { file_spec: spec }))
                .await
                .map(|v| v.value),
        }
    }

    pub async fn file_get(&self, id: &str, name: &str) -> R<UpdateFileInfo> {
        match self.dialect {
            Dialect::Api => call(self.client.update_session_file_get(id, name)).await,
            Dialect::Rest => {
                let body = FileNameSpec { file_name: name.into() };
                call(self.client.rest_update_session_file_get(id, &body)).await.map(|v| v.value)
            }
        }
    }

    pub async fn file_list(&self, id: &str) -> R<Vec<UpdateFileInfo>> {
        match self.dialect {
            Dialect::Api => call(self.client.update_session_file_list(id)).await,
            Dialect::Rest => {
                call(self.client.rest_update_session_file_list(id)).await.map(|v| v.value.unwrap_or_default())
            }
        }
    }

    pub async fn file_remove(&self, id: &str, name: &str) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.update_session_file_remove(id, name)).await.map(|_| ()),
            Dialect::Rest => {
                let body = FileNameSpec { file_name: name.into() };
                call(self.client.rest_update_session_file_remove(id, &body)).await.map(|_| ())
            }
        }
    }

    pub async fn validate(&self, id: &str) -> R<ValidationResult> {
        match self.dialect {
            Dialect::Api => call(self.client.update_session_file_validate(id)).await,
            Dialect::Rest => call(self.client.rest_update_session_file_validate(id)).await.map(|v| v.value),
        }
    }

    // ------------------------------------------------------------------ download sessions

    pub async fn download_create(&self, item: &str, token: Option<&str>) -> R<String> {
        let spec = DownloadSessionModel { library_item_id: Some(item.into()), ..Default::default() };
        match self.dialect {
            Dialect::Api => call(self.client.download_session_create(token, &spec)).await,
            Dialect::Rest => {
                let body = RestDownloadSessionCreate { client_token: token.map(Into::into), create_spec: spec };
                call(self.client.rest_download_session_create(&body)).await.map(|v| v.value)
            }
        }
    }

    pub async fn download_get(&self, id: &str) -> R<DownloadSessionModel> {
        match self.dialect {
            Dialect::Api => call(self.client.download_session_get(id)).await,
            Dialect::Rest => call(self.client.rest_download_session_get(id)).await.map(|v| v.value),
        }
    }

    pub async fn download_list(&self, item: Option<&str>) -> R<Vec<String>> {
        match self.dialect {
            Dialect::Api => call(self.client.download_session_list(item)).await,
            Dialect::Rest => {
                call(self.client.rest_download_session_list(item)).await.map(|v| v.value.unwrap_or_default())
            }
        }
    }

    pub async fn download_keep_alive(&self, id: &str, progress: Option<i64>) -> R<()> {
        let body = DownloadSessionKeepAliveSpec { progress };
        match self.dialect {
            Dialect::Api => call(self.client.download_session_keep_alive(id, &body)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_download_session_keep_alive(id, &body)).await.map(|_| ()),
        }
    }

    pub async fn download_cancel(&self, id: &str) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.download_session_cancel(id)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_download_session_cancel(id)).await.map(|_| ()),
        }
    }

    pub async fn download_fail(&self, id: &str, message: &str) -> R<()> {
        let body = FailSpec { client_error_message: message.into() };
        match self.dialect {
            Dialect::Api => call(self.client.download_session_fail(id, &body)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_download_session_fail(id, &body)).await.map(|_| ()),
        }
    }

    pub async fn download_delete(&self, id: &str) -> R<()> {
        match self.dialect {
            Dialect::Api => call(self.client.download_session_delete(id)).await.map(|_| ()),
            Dialect::Rest => call(self.client.rest_download_session_delete(id)).await.map(|_| ()),
        }
    }

    pub async fn dl_files(&self, id: &str) -> R<Vec<DownloadFileInfo>> {
        match self.dialect {
            Dialect::Api => call(self.client.download_session_file_list(id)).await,
            Dialect::Rest => {
                call(self.client.rest_download_session_file_list(id)).await.map(|v| v.value.unwrap_or_default())
            }
        }
    }

    pub async fn dl_file(&self, id: &str, name: &str) -> R<DownloadFileInfo> {
        match self.dialect {
            Dialect::Api => call(self.client.download_session_file_get(id, name)).await,
            Dialect::Rest => {
                let body = FileNameSpec { file_name: name.into() };
                call(self.client.rest_download_session_file_get(id, &body)).await.map(|v| v.value)
            }
        }
    }

    pub async fn prepare(&self, id: &str, name: &str, endpoint: Option<EndpointType>) -> R<DownloadFileInfo> {
        let body = DownloadFilePrepareSpec { file_name: name.into(), endpoint_type: endpoint };
        match self.dialect {
            Dialect::Api => call(self.client.download_session_file_prepare(id, &body)).await,
            Dialect::Rest => call(self.client.rest_download_session_file_prepare(id, &body)).await.map(|v| v.value),
        }
    }

    // ------------------------------------------------------------------ compound helpers

    /// Adds a PUSH file declaring size and SHA-256, and uploads `content` to its endpoint.
    pub async fn push(&self, session: &str, name: &str, content: &[u8]) -> UpdateFileInfo {
        let info = self.file_add(session, push_spec(name, content)).await.expect("file add");
        let uri = info.upload_endpoint.expect("PUSH files get an upload endpoint").uri;
        let response = self.http.put(&uri).body(content.to_vec()).send().await.expect("upload");
        assert!(response.status().is_success(), "upload of {name}: {}", response.status());
        self.file_get(session, name).await.expect("file get")
    }

    /// Creates an item holding `files` (one completed update).
    pub async fn item_with(&self, library: &str, name: &str, files: &[(&str, &[u8])]) -> String {
        let item = self.item(library, name).await;
        let session = self.update_create(&item, None).await.unwrap();
        for (name, content) in files {
            self.push(&session, name, content).await;
        }
        self.update_complete(&session).await.unwrap();
        item
    }

    /// Prepares `name` and waits until it is PREPARED; returns the download URI.
    pub async fn prepared_uri(&self, session: &str, name: &str) -> String {
        self.prepare(session, name, None).await.unwrap();
        for _ in 0..200 {
            let file = self.dl_file(session, name).await.unwrap();
            if file.status == PrepareStatus::Prepared {
                return file.download_endpoint.expect("PREPARED files have an endpoint").uri;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{name} never became PREPARED")
    }
}

pub fn sha256(content: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(content))
}

pub fn sha1(content: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(content))
}

pub fn push_spec(name: &str, content: &[u8]) -> UpdateFileAddSpec {
    UpdateFileAddSpec {
        name: name.into(),
        source_type: SourceType::Push,
        source_endpoint: None,
        size: Some(content.len() as i64),
        checksum_info: Some(ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha256), checksum: sha256(content) }),
    }
}

/// Asserts a failure of the given error type.
#[track_caller]
pub fn assert_error<T: std::fmt::Debug>(result: R<T>, error_type: &str) -> Failure {
    match result {
        Err(f) if f.error_type == error_type => f,
        other => panic!("expected {error_type}, got {other:?}"),
    }
}
