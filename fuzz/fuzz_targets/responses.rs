//! Every response type of both dialects, decoded from arbitrary bytes: errors are fine, panics and
//! hangs are findings.
#![no_main]

use cl_api::types::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    macro_rules! each {
        ($($t:ty),* $(,)?) => {$(
            let _ = serde_json::from_slice::<$t>(bytes);
        )*};
    }
    each!(
        String, Vec<String>, SessionInfo, LibraryModel, ItemModel, ItemFileInfo, Vec<ItemFileInfo>,
        DownloadSessionModel, DownloadFileInfo, Vec<DownloadFileInfo>, UpdateSessionModel, UpdateFileInfo,
        Vec<UpdateFileInfo>, ValidationResult, StdError, RestError, RestStringValue, RestStringListValue,
        RestSessionInfoValue, RestLibraryValue, RestItemValue, RestItemFileInfoValue, RestItemFileInfoListValue,
        RestDownloadSessionValue, RestDownloadFileInfoValue, RestDownloadFileInfoListValue, RestUpdateSessionValue,
        RestUpdateFileInfoValue, RestUpdateFileInfoListValue, RestValidationResultValue,
    );
});
