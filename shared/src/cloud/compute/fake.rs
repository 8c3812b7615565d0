//! The engine tests' cloud: EC2 machines and EMR clusters in memory.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Mutex,
};

use super::{
    ClusterLaunch, Compute, ComputeError, Launch, Machine, MachineState, Step, StepSpec, StepState, Tagged,
    WORKER_GROUP_TAG,
};

/// The engine tests' EC2 and EMR: machines and clusters in memory, started running at
/// once unless told to boot slowly; capacity errors queued per market; interruptions and
/// step endings on cue.
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
    cluster_launches: Vec<ClusterLaunch>,
    /// Every step added, in order, with the cluster it was added to.
    added_steps: Vec<(String, StepSpec)>,
    next_id: u64,
}

#[derive(Debug, Clone)]
struct FakeMachine {
    token: String,
    state: MachineState,
    spot: bool,
    worker_group: Option<String>,
    /// A cluster's steps, oldest first.
    steps: Vec<Step>,
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

    /// Starts a machine (for `RunInstances`) or a cluster (`RunJobFlow`), unless a
    /// capacity failure is queued for its market.
    fn start(
        &self,
        operation: &'static str,
        spot: bool,
        token: &str,
        tags: &[(String, String)],
    ) -> Result<Machine, ComputeError> {
        let mut cloud = self.cloud();
        let failure = if spot {
            cloud.spot_failures.pop_front()
        } else {
            cloud.on_demand_failures.pop_front()
        };
        if let Some(code) = failure {
            return Err(ComputeError::Capacity {
                operation,
                code,
                detail: "injected by the test".to_owned(),
            });
        }
        cloud.next_id += 1;
        let id = if operation == "RunJobFlow" {
            format!("j-{:013X}", cloud.next_id)
        } else {
            format!("i-{:017x}", cloud.next_id)
        };
        let state = if cloud.slow_boot {
            MachineState::Pending
        } else {
            MachineState::Running
        };
        cloud.machines.insert(
            id.clone(),
            FakeMachine {
                token: token.to_owned(),
                state: state.clone(),
                spot,
                worker_group: worker_group_of(tags),
                steps: Vec::new(),
            },
        );
        Ok(Machine { id, state, spot })
    }

    /// Every cluster launch that started a cluster, in order.
    pub fn cluster_launches(&self) -> Vec<ClusterLaunch> {
        self.cloud().cluster_launches.clone()
    }

    /// Every step added to any cluster, in order, with its cluster.
    pub fn added_steps(&self) -> Vec<(String, StepSpec)> {
        self.cloud().added_steps.clone()
    }

    /// The steps whose name starts with `name_prefix` (on any cluster) move to `state`, as
    /// EMR would move them; a failed one names `log_file`.
    pub fn end_steps(&self, name_prefix: &str, state: &StepState, log_file: Option<&str>) {
        for machine in self.cloud().machines.values_mut() {
            for step in &mut machine.steps {
                if step.name.starts_with(name_prefix) {
                    step.state = state.clone();
                    step.log_file = log_file.map(str::to_owned);
                }
            }
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
    async fn find(&self, token: &str, _region: Option<&str>) -> Result<Option<Machine>, ComputeError> {
        Ok(self
            .cloud()
            .machines
            .iter()
            .rev()
            .find(|(id, machine)| !super::is_cluster_id(id) && machine.token == token)
            .map(|(id, machine)| Machine {
                id: id.clone(),
                state: machine.state.clone(),
                spot: machine.spot,
            }))
    }

    async fn launch(&self, launch: &Launch) -> Result<Machine, ComputeError> {
        let machine = self.start(
            "RunInstances",
            launch.spec.market.is_spot(),
            &launch.token,
            &launch.tags,
        )?;
        self.cloud().launches.push(launch.clone());
        Ok(machine)
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
            for step in &mut machine.steps {
                if !step.state.is_over() {
                    step.state = StepState::Cancelled;
                }
            }
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

    async fn find_cluster(&self, token: &str, _region: Option<&str>) -> Result<Option<Machine>, ComputeError> {
        Ok(self
            .cloud()
            .machines
            .iter()
            .rev()
            .find(|(id, machine)| super::is_cluster_id(id) && machine.token == token)
            .map(|(id, machine)| Machine {
                id: id.clone(),
                state: machine.state.clone(),
                spot: machine.spot,
            }))
    }

    async fn launch_cluster(&self, launch: &ClusterLaunch) -> Result<Machine, ComputeError> {
        let cluster = self.start("RunJobFlow", launch.spec.any_spot(), &launch.token, &launch.tags)?;
        self.cloud().cluster_launches.push(launch.clone());
        Ok(cluster)
    }

    async fn steps(&self, cluster_id: &str) -> Result<Vec<Step>, ComputeError> {
        let cloud = self.cloud();
        let machine = cloud.machines.get(cluster_id).ok_or_else(|| ComputeError::Refused {
            operation: "ListSteps",
            code: "InvalidRequestException".to_owned(),
            detail: format!("cluster {cluster_id} is not valid"),
        })?;
        Ok(machine.steps.iter().rev().cloned().collect())
    }

    async fn add_steps(&self, cluster_id: &str, steps: &[StepSpec]) -> Result<Vec<String>, ComputeError> {
        let mut cloud = self.cloud();
        let first = cloud.next_id;
        cloud.next_id += steps.len() as u64;
        let Some(machine) = cloud
            .machines
            .get_mut(cluster_id)
            .filter(|machine| !machine.state.is_gone())
        else {
            return Err(ComputeError::Refused {
                operation: "AddJobFlowSteps",
                code: "ValidationException".to_owned(),
                detail: format!("cluster {cluster_id} is not running"),
            });
        };
        let mut ids = Vec::new();
        for (offset, step) in steps.iter().enumerate() {
            let id = format!("s-{:013X}", first + offset as u64 + 1);
            machine.steps.push(Step {
                id: id.clone(),
                name: step.name.clone(),
                state: StepState::Pending,
                log_file: None,
            });
            ids.push(id);
        }
        cloud
            .added_steps
            .extend(steps.iter().map(|step| (cluster_id.to_owned(), step.clone())));
        Ok(ids)
    }

    async fn cancel_steps(&self, cluster_id: &str, step_ids: &[String]) -> Result<(), ComputeError> {
        if let Some(machine) = self.cloud().machines.get_mut(cluster_id) {
            for step in &mut machine.steps {
                if step_ids.contains(&step.id) && !step.state.is_over() {
                    step.state = StepState::Cancelled;
                }
            }
        }
        Ok(())
    }
}

fn worker_group_of(tags: &[(String, String)]) -> Option<String> {
    tags.iter()
        .find(|(key, _)| key == WORKER_GROUP_TAG)
        .map(|(_, value)| value.clone())
}
