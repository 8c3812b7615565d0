//! The resources stage: Ec2Resource machines launched (on demand or spot), watched and
//! shut down. Woken by the minute schedule and by the run table's stream; the work is
//! `sluice::stages`, the plumbing `sluice_stage`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sluice_stage::serve(sluice::stages::Stage::Resources).await
}
