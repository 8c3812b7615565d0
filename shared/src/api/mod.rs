//! The AWS Data Pipeline API over the engine: the JSON 1.1 protocol ([`protocol::handle`]),
//! request and response shapes member for member as botocore's model has them ([`types`]),
//! the service's errors ([`error`]), and one method per operation ([`operations::Api`]).

pub mod error;
pub mod operations;
pub mod protocol;
pub mod sigv4;
pub mod types;

pub use error::{ApiError, ErrorKind};
pub use operations::Api;
pub use protocol::{CONTENT_TYPE, Response, handle, handle_long_polling};
