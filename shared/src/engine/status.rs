//! Statuses with AWS's exact names (reference §3.2, §3.3) and the one pure function that
//! decides every transition of an instance or attempt.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The status of an instance or an attempt (`@status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Checking upstream instances, inputs and preconditions.
    WaitingOnDependencies,
    /// Ready; waiting for a runner (a Task Runner, Sluice's own runner, or a resource).
    WaitingForRunner,
    Running,
    Finished,
    /// Marked finished by an operator (SetStatus MARK_FINISHED); counts as healthy.
    MarkFinished,
    Failed,
    /// Not run because something it depends on failed (`failureAndRerunMode: cascade`).
    CascadeFailed,
    Canceled,
    /// An interval before a later activation start timestamp.
    Skipped,
    /// A resource that exceeded `terminateAfter`.
    #[serde(rename = "TIMEDOUT")]
    TimedOut,
    /// A resource being created (after a rerun, for instance).
    Creating,
    /// A resource booting.
    Activating,
    /// A resource stopping after its work.
    ShuttingDown,
}

impl Status {
    pub const ALL: [Status; 13] = [
        Self::WaitingOnDependencies,
        Self::WaitingForRunner,
        Self::Running,
        Self::Finished,
        Self::MarkFinished,
        Self::Failed,
        Self::CascadeFailed,
        Self::Canceled,
        Self::Skipped,
        Self::TimedOut,
        Self::Creating,
        Self::Activating,
        Self::ShuttingDown,
    ];

    /// AWS's spelling: `WAITING_ON_DEPENDENCIES`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitingOnDependencies => "WAITING_ON_DEPENDENCIES",
            Self::WaitingForRunner => "WAITING_FOR_RUNNER",
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::MarkFinished => "MARK_FINISHED",
            Self::Failed => "FAILED",
            Self::CascadeFailed => "CASCADE_FAILED",
            Self::Canceled => "CANCELED",
            Self::Skipped => "SKIPPED",
            Self::TimedOut => "TIMEDOUT",
            Self::Creating => "CREATING",
            Self::Activating => "ACTIVATING",
            Self::ShuttingDown => "SHUTTING_DOWN",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Nothing more happens to the instance unless an operator reruns it.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Finished
                | Self::MarkFinished
                | Self::Failed
                | Self::CascadeFailed
                | Self::Canceled
                | Self::Skipped
                | Self::TimedOut
        )
    }

    /// Ended well: downstream work may use what it produced.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Finished | Self::MarkFinished)
    }

    /// Ended badly: downstream work cascades (with `failureAndRerunMode: cascade`) or waits.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Self::Failed | Self::CascadeFailed | Self::Canceled | Self::TimedOut
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a pipeline (`@pipelineState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PipelineState {
    /// Defined, never activated.
    Pending,
    /// Activated: instances are being created and run.
    Scheduled,
    /// Every schedule has ended and every instance has ended.
    Finished,
    /// Deactivated with `cancelActive: false`: running work drains.
    Deactivating,
    /// Deactivated.
    Inactive,
}

impl PipelineState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Scheduled => "SCHEDULED",
            Self::Finished => "FINISHED",
            Self::Deactivating => "DEACTIVATING",
            Self::Inactive => "INACTIVE",
        }
    }
}

impl fmt::Display for PipelineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to an instance or attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Upstream instances finished, inputs ready, preconditions true, time reached.
    DependenciesMet,
    /// The same, for an object with no work of its own (a data node): it is ready.
    Ready,
    /// Something it depends on failed and `failureAndRerunMode` is `cascade`.
    DependencyFailed,
    /// A precondition stayed false until `preconditionTimeout`, or its checks ran out.
    PreconditionFailed,
    /// A runner took the attempt (PollForTask).
    Claimed,
    /// The runner reported FINISHED.
    Succeeded,
    /// The attempt failed (reported FAILED, timed out, or its runner vanished); `retry`
    /// says whether another attempt follows.
    AttemptFailed { retry: bool },
    /// SetStatus TRY_CANCEL, a Terminate action, or deactivation with `cancelActive`.
    Cancel,
    /// SetStatus RERUN.
    Rerun,
    /// SetStatus MARK_FINISHED.
    MarkFinished,
    /// A resource ran past `terminateAfter`.
    TimedOut,
    /// A resource's work is ready: its machine is asked for.
    Launch,
    /// The machine was started; it boots.
    Launched,
    /// The machine runs: its runner can take work.
    Booted,
    /// The resource's work has ended: its machine is terminated.
    WorkDone,
    /// The machine is gone after its work.
    ShutDown,
    /// The machine could not be started, did not boot in time, or was taken away (a spot
    /// interruption); `retry` says whether another machine is asked for.
    ResourceFailed { retry: bool },
    /// Sluice cannot process it and retrying cannot help (its definition no longer
    /// compiles, its records cannot be written): it fails alone, saying why.
    Unrunnable,
}

impl Event {
    pub const ALL: [Event; 20] = [
        Self::DependenciesMet,
        Self::Ready,
        Self::DependencyFailed,
        Self::PreconditionFailed,
        Self::Claimed,
        Self::Succeeded,
        Self::AttemptFailed { retry: true },
        Self::AttemptFailed { retry: false },
        Self::Cancel,
        Self::Rerun,
        Self::MarkFinished,
        Self::TimedOut,
        Self::Launch,
        Self::Launched,
        Self::Booted,
        Self::WorkDone,
        Self::ShutDown,
        Self::ResourceFailed { retry: true },
        Self::ResourceFailed { retry: false },
        Self::Unrunnable,
    ];
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("an instance in {from} cannot take {event:?}")]
pub struct Refused {
    pub from: Status,
    pub event: Event,
}

/// The one place that decides what an event does to a status (reference §3.4).
pub fn transition(from: Status, event: Event) -> Result<Status, Refused> {
    use Status::*;
    let to = match (from, event) {
        (WaitingOnDependencies, Event::DependenciesMet) => WaitingForRunner,
        (WaitingOnDependencies, Event::Ready) => Finished,
        (WaitingOnDependencies, Event::DependencyFailed) => CascadeFailed,
        (WaitingOnDependencies, Event::PreconditionFailed) => Failed,
        // A resource being brought up can take work too.
        (WaitingForRunner | Creating | Activating, Event::Claimed) => Running,
        (Running, Event::Succeeded) => Finished,
        (Running | WaitingForRunner, Event::AttemptFailed { retry: true }) => WaitingForRunner,
        (Running | WaitingForRunner, Event::AttemptFailed { retry: false }) => Failed,
        (Running | ShuttingDown | Activating | Creating, Event::TimedOut) => TimedOut,
        (WaitingOnDependencies, Event::Launch) => Creating,
        (Creating, Event::Launched) => Activating,
        (Activating, Event::Booted) => Running,
        (Creating | Activating | Running, Event::WorkDone) => ShuttingDown,
        (ShuttingDown, Event::ShutDown) => Finished,
        (Creating | Activating | Running, Event::ResourceFailed { retry: true }) => Creating,
        (Creating | Activating | Running, Event::ResourceFailed { retry: false }) => Failed,
        (status, Event::Cancel) if !status.is_terminal() => Canceled,
        (status, Event::Unrunnable) if !status.is_terminal() => Failed,
        (status, Event::MarkFinished) if !status.is_success() && status != Skipped => MarkFinished,
        (status, Event::Rerun) if status.is_terminal() => WaitingOnDependencies,
        _ => return Err(Refused { from, event }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (status, event) pair, with what the state machine must answer. Written out in
    /// full so that a change to any transition shows up here.
    #[test]
    fn every_status_and_event_is_allowed_or_refused_as_the_reference_says() {
        use Status::*;
        let allowed: &[(Status, Event, Status)] = &[
            (WaitingOnDependencies, Event::DependenciesMet, WaitingForRunner),
            (WaitingOnDependencies, Event::Ready, Finished),
            (WaitingOnDependencies, Event::DependencyFailed, CascadeFailed),
            (WaitingOnDependencies, Event::PreconditionFailed, Failed),
            (WaitingForRunner, Event::Claimed, Running),
            (Creating, Event::Claimed, Running),
            (Activating, Event::Claimed, Running),
            (Running, Event::Succeeded, Finished),
            (Running, Event::AttemptFailed { retry: true }, WaitingForRunner),
            (Running, Event::AttemptFailed { retry: false }, Failed),
            (WaitingForRunner, Event::AttemptFailed { retry: true }, WaitingForRunner),
            (WaitingForRunner, Event::AttemptFailed { retry: false }, Failed),
            (Running, Event::TimedOut, TimedOut),
            (ShuttingDown, Event::TimedOut, TimedOut),
            (Activating, Event::TimedOut, TimedOut),
            (Creating, Event::TimedOut, TimedOut),
            (WaitingOnDependencies, Event::Launch, Creating),
            (Creating, Event::Launched, Activating),
            (Activating, Event::Booted, Running),
            (Creating, Event::WorkDone, ShuttingDown),
            (Activating, Event::WorkDone, ShuttingDown),
            (Running, Event::WorkDone, ShuttingDown),
            (ShuttingDown, Event::ShutDown, Finished),
            (Creating, Event::ResourceFailed { retry: true }, Creating),
            (Activating, Event::ResourceFailed { retry: true }, Creating),
            (Running, Event::ResourceFailed { retry: true }, Creating),
            (Creating, Event::ResourceFailed { retry: false }, Failed),
            (Activating, Event::ResourceFailed { retry: false }, Failed),
            (Running, Event::ResourceFailed { retry: false }, Failed),
        ];
        for from in Status::ALL {
            for event in Event::ALL {
                let expected = allowed
                    .iter()
                    .find(|(status, on, _)| *status == from && *on == event)
                    .map(|(_, _, to)| *to)
                    .or_else(|| match event {
                        Event::Cancel if !from.is_terminal() => Some(Canceled),
                        Event::Unrunnable if !from.is_terminal() => Some(Failed),
                        Event::MarkFinished if !from.is_success() && from != Skipped => Some(MarkFinished),
                        Event::Rerun if from.is_terminal() => Some(WaitingOnDependencies),
                        _ => None,
                    });
                match (transition(from, event), expected) {
                    (Ok(to), Some(wanted)) => assert_eq!(to, wanted, "{from} on {event:?}"),
                    (Err(refused), None) => assert_eq!(refused, Refused { from, event }),
                    (got, wanted) => panic!("{from} on {event:?}: got {got:?}, expected {wanted:?}"),
                }
            }
        }
    }

    #[test]
    fn terminal_statuses_only_leave_by_rerun_or_mark_finished() {
        for from in Status::ALL.into_iter().filter(|status| status.is_terminal()) {
            for event in Event::ALL {
                if let Ok(to) = transition(from, event) {
                    assert!(
                        matches!(event, Event::Rerun | Event::MarkFinished),
                        "{from} left by {event:?} to {to}"
                    );
                }
            }
        }
    }

    #[test]
    fn names_are_aws_names() {
        assert_eq!(
            serde_json::to_string(&Status::WaitingOnDependencies).unwrap(),
            "\"WAITING_ON_DEPENDENCIES\""
        );
        assert_eq!(serde_json::to_string(&Status::TimedOut).unwrap(), "\"TIMEDOUT\"");
        assert_eq!(
            serde_json::to_string(&PipelineState::Scheduled).unwrap(),
            "\"SCHEDULED\""
        );
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{status}\""));
        }
    }
}
