//! The Lambda entry point (`bootstrap` for the `provided.al2023` runtime).

use std::sync::Arc;

use aws_lambda_events::event::s3::batch_job::S3BatchJobEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let function = Arc::new(s3ec_batch::Function::from_environment().await);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3BatchJobEvent>| {
        let function = Arc::clone(&function);
        // Boxed: the handler's future is deep (SDK calls inside the operations), and an unboxed one nested in
        // the runtime's overflows the compiler's layout depth.
        async move {
            Box::pin(function.handle(event.payload))
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
