//! The compute port: the machines a pipeline's `Ec2Resource`s run on. [`ec2::Ec2Compute`]
//! is the AWS adapter; [`FakeCompute`] is the engine tests' cloud, where capacity errors
//! and spot interruptions can be made to happen on cue (EC2 emulators cannot make them).
//!
//! Launches are idempotent through a token (the resource attempt's id): an adapter tags
//! what it launches with it and looks the token up before launching, because a client
//! token alone is not enough (moto ignores it, and a crash between launch and record must
//! never leave a second machine).

pub mod ec2;

use std::{
    collections::{BTreeMap, VecDeque},
    future::Future,
    sync::Mutex,
};

use thiserror::Error;

/// On-demand or spot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Market {
    OnDemand,
    /// Spot, paying at most `max_price` dollars an hour (`spotBidPrice`); `None` is EC2's
    /// default, the on-demand price.
    Spot {
        max_price: Option<String>,
    },
}

impl Market {
    pub fn is_spot(&self) -> bool {
        matches!(self, Self::Spot { .. })
    }
}

/// One machine to launch: the fields of an `Ec2Resource`, evaluated for its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineSpec {
    pub instance_type: String,
    pub image_id: String,
    pub subnet_id: Option<String>,
    pub security_group_ids: Vec<String>,
    /// Security group names (EC2-Classic and default VPCs).
    pub security_groups: Vec<String>,
    pub key_pair: Option<String>,
    pub associate_public_ip_address: Option<bool>,
    pub availability_zone: Option<String>,
    /// The instance profile (`resourceRole`).
    pub instance_profile: Option<String>,
    /// The boot script: it starts `sluice runner` for the resource's worker group.
    pub user_data: String,
    pub market: Market,
}

/// A launch: what to start, the token that makes it happen once, and the tags it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Idempotency: the same token never starts a second machine.
    pub token: String,
    pub spec: MachineSpec,
    pub tags: Vec<(String, String)>,
}

/// The tag that carries a launch's token.
pub const TOKEN_TAG: &str = "sluice:attempt";
/// The tag every machine Sluice launches carries: the pipeline it is for.
pub const PIPELINE_TAG: &str = "sluice:pipeline";
/// The tag naming the worker group a machine's runner serves.
pub const WORKER_GROUP_TAG: &str = "sluice:worker-group";

/// A machine Sluice launched that has not ended, with the worker group its runner serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub machine: Machine,
    pub worker_group: Option<String>,
    /// The launch token it carries ([`TOKEN_TAG`]).
    pub token: Option<String>,
}

/// What a machine is doing, in EC2's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineState {
    Pending,
    Running,
    /// Stopping or shutting down.
    Stopping,
    /// Gone, with EC2's reason (`Server.SpotInstanceTermination: ...` for a spot
    /// interruption).
    Terminated {
        reason: Option<String>,
    },
    /// EC2 does not know the machine (terminated long ago, or never launched).
    Unknown,
}

impl MachineState {
    /// Whether EC2 took the machine back (a spot interruption), as opposed to Sluice or an
    /// operator terminating it.
    pub fn interrupted(&self) -> bool {
        matches!(self, Self::Terminated { reason: Some(reason) } if reason.contains("SpotInstanceTermination"))
    }

    pub fn is_gone(&self) -> bool {
        matches!(self, Self::Terminated { .. } | Self::Unknown)
    }
}

/// A launched machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub id: String,
    pub state: MachineState,
    pub spot: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ComputeError {
    /// No capacity at the price or in the zone (`InsufficientInstanceCapacity`,
    /// `SpotMaxPriceTooLow`, ...): another attempt later, or on demand, can help.
    #[error("EC2 {operation}: no capacity ({code}: {detail}); a later attempt or on-demand capacity can help")]
    Capacity {
        operation: &'static str,
        code: String,
        detail: String,
    },
    /// Throttling, server trouble or the network: the same request may succeed later.
    #[error("EC2 {operation}: {code} ({detail}); retrying later can help")]
    Unavailable {
        operation: &'static str,
        code: String,
        detail: String,
    },
    /// The request is wrong (an image that does not exist, a missing permission): retrying
    /// cannot help until the definition or the account changes.
    #[error("EC2 {operation} refused: {code} ({detail})")]
    Refused {
        operation: &'static str,
        code: String,
        detail: String,
    },
}

impl ComputeError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Refused { .. })
    }

    pub fn is_capacity(&self) -> bool {
        matches!(self, Self::Capacity { .. })
    }

    pub fn code(&self) -> &str {
        match self {
            Self::Capacity { code, .. } | Self::Unavailable { code, .. } | Self::Refused { code, .. } => code,
        }
    }
}

/// EC2's answers that mean "no capacity for this launch now": spot or on-demand.
pub const CAPACITY_CODES: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "SpotMaxPriceTooLow",
    "MaxSpotInstanceCountExceeded",
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "UnfulfillableCapacity",
    "capacity-not-available",
    "capacity-oversubscribed",
    "price-too-low",
];

/// Launches, watches and terminates machines.
pub trait Compute: Send + Sync {
    /// The machine launched with `token`, if any (the newest, if several).
    fn find(&self, token: &str) -> impl Future<Output = Result<Option<Machine>, ComputeError>> + Send;

    /// Starts a machine. Callers look the token up with [`Compute::find`] first.
    fn launch(&self, launch: &Launch) -> impl Future<Output = Result<Machine, ComputeError>> + Send;

    /// What the machine is doing now.
    fn state(&self, id: &str) -> impl Future<Output = Result<MachineState, ComputeError>> + Send;

    /// Terminates the machine; terminating one that is gone succeeds.
    fn terminate(&self, id: &str) -> impl Future<Output = Result<(), ComputeError>> + Send;

    /// Every machine tagged as Sluice's that has not ended (pending, running, stopping).
    fn alive_tagged(&self) -> impl Future<Output = Result<Vec<Tagged>, ComputeError>> + Send;
}

/// The engine tests' EC2: machines in memory, started running at once unless told to
/// boot slowly; capacity errors queued per market; interruptions on cue.
#[derive(Debug, Default)]
pub struct FakeCompute {
    state: Mutex<FakeCloud>,
}

#[derive(Debug, Default)]
struct FakeCloud {
    machines: BTreeMap<String, FakeMachine>,
    /// Codes of capacity errors to answer the next spot launches with, in order.
    spot_failures: VecDeque<String>,
    /// The same for on-demand launches.
    on_demand_failures: VecDeque<String>,
    /// Launches stay pending until [`FakeCompute::boot_all`].
    slow_boot: bool,
    /// Terminated machines stay stopping until [`FakeCompute::stop_all`].
    slow_stop: bool,
    launches: Vec<Launch>,
    next_id: u64,
}

#[derive(Debug, Clone)]
struct FakeMachine {
    token: String,
    state: MachineState,
    spot: bool,
    worker_group: Option<String>,
}

impl FakeCompute {
    pub fn new() -> Self {
        Self::default()
    }

    fn cloud(&self) -> std::sync::MutexGuard<'_, FakeCloud> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next spot launches fail with these capacity codes, one each.
    pub fn fail_spot(&self, codes: &[&str]) {
        self.cloud()
            .spot_failures
            .extend(codes.iter().map(|code| (*code).to_owned()));
    }

    /// The next on-demand launches fail with these capacity codes, one each.
    pub fn fail_on_demand(&self, codes: &[&str]) {
        self.cloud()
            .on_demand_failures
            .extend(codes.iter().map(|code| (*code).to_owned()));
    }

    /// Machines launched from now on stay pending until [`FakeCompute::boot_all`].
    pub fn boot_slowly(&self) {
        self.cloud().slow_boot = true;
    }

    /// Machines terminated from now on stay stopping until [`FakeCompute::stop_all`].
    pub fn stop_slowly(&self) {
        self.cloud().slow_stop = true;
    }

    /// Every stopping machine is terminated.
    pub fn stop_all(&self) {
        for machine in self.cloud().machines.values_mut() {
            if machine.state == MachineState::Stopping {
                machine.state = MachineState::Terminated {
                    reason: Some("Client.UserInitiatedShutdown: User initiated shutdown".to_owned()),
                };
            }
        }
    }

    /// Every pending machine is running.
    pub fn boot_all(&self) {
        for machine in self.cloud().machines.values_mut() {
            if machine.state == MachineState::Pending {
                machine.state = MachineState::Running;
            }
        }
    }

    /// EC2 takes a spot machine back.
    pub fn interrupt(&self, id: &str) {
        if let Some(machine) = self.cloud().machines.get_mut(id) {
            machine.state = MachineState::Terminated {
                reason: Some("Server.SpotInstanceTermination: Spot instance termination".to_owned()),
            };
        }
    }

    /// Every launch that started a machine, in order.
    pub fn launches(&self) -> Vec<Launch> {
        self.cloud().launches.clone()
    }

    /// The machines not yet terminated, by id.
    pub fn alive(&self) -> Vec<String> {
        self.cloud()
            .machines
            .iter()
            .filter(|(_, machine)| !machine.state.is_gone())
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn machine_state(&self, id: &str) -> MachineState {
        self.cloud()
            .machines
            .get(id)
            .map_or(MachineState::Unknown, |machine| machine.state.clone())
    }
}

impl Compute for FakeCompute {
    async fn find(&self, token: &str) -> Result<Option<Machine>, ComputeError> {
        Ok(self
            .cloud()
            .machines
            .iter()
            .rev()
            .find(|(_, machine)| machine.token == token)
            .map(|(id, machine)| Machine {
                id: id.clone(),
                state: machine.state.clone(),
                spot: machine.spot,
            }))
    }

    async fn launch(&self, launch: &Launch) -> Result<Machine, ComputeError> {
        let mut cloud = self.cloud();
        let spot = launch.spec.market.is_spot();
        let failure = if spot {
            cloud.spot_failures.pop_front()
        } else {
            cloud.on_demand_failures.pop_front()
        };
        if let Some(code) = failure {
            return Err(ComputeError::Capacity {
                operation: "RunInstances",
                code,
                detail: "injected by the test".to_owned(),
            });
        }
        cloud.next_id += 1;
        let id = format!("i-{:017x}", cloud.next_id);
        let state = if cloud.slow_boot {
            MachineState::Pending
        } else {
            MachineState::Running
        };
        cloud.machines.insert(
            id.clone(),
            FakeMachine {
                token: launch.token.clone(),
                state: state.clone(),
                spot,
                worker_group: launch
                    .tags
                    .iter()
                    .find(|(key, _)| key == WORKER_GROUP_TAG)
                    .map(|(_, value)| value.clone()),
            },
        );
        cloud.launches.push(launch.clone());
        Ok(Machine { id, state, spot })
    }

    async fn state(&self, id: &str) -> Result<MachineState, ComputeError> {
        Ok(self.machine_state(id))
    }

    async fn alive_tagged(&self) -> Result<Vec<Tagged>, ComputeError> {
        Ok(self
            .cloud()
            .machines
            .iter()
            .filter(|(_, machine)| !machine.state.is_gone())
            .map(|(id, machine)| Tagged {
                machine: Machine {
                    id: id.clone(),
                    state: machine.state.clone(),
                    spot: machine.spot,
                },
                worker_group: machine.worker_group.clone(),
                token: Some(machine.token.clone()),
            })
            .collect())
    }

    async fn terminate(&self, id: &str) -> Result<(), ComputeError> {
        let mut cloud = self.cloud();
        let slow = cloud.slow_stop;
        if let Some(machine) = cloud.machines.get_mut(id)
            && !machine.state.is_gone()
        {
            machine.state = if slow {
                MachineState::Stopping
            } else {
                MachineState::Terminated {
                    reason: Some("Client.UserInitiatedShutdown: User initiated shutdown".to_owned()),
                }
            };
        }
        Ok(())
    }
}
