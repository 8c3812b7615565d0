//! The activities stage: activities that name no runner. Woken by the minute schedule and by the run table's stream; the work is
//! `sluice::stages`, the plumbing `sluice_stage`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_stage::serve(sluice::stages::Stage::Activities).await
}
