// The warm-or-cold decision, as a value computed from the cache, the VM's shape and the host.

/// What a launch does about warm start.
enum WarmStartPlan: Sendable, Equatable {
    /// Restore this saved state (a cold boot follows when the restore fails).
    case restore(WarmStateManifest)
    /// `cache warm` found a usable state: nothing starts.
    case alreadyWarm(key: String)
    /// Boot for real with a throwaway identity, save the running state once SSH answers, then
    /// give the VM its own identity.
    case coldThenSave
    /// Boot for real; save nothing. `notice` says why when the user would wonder.
    case cold(notice: String?)
}

/// The facts the decision reads. `state`: what the cache holds for this shape (a stale state
/// was removed already, so it shows as `.none` with `stateExisted`).
struct WarmStartFacts: Sendable, Equatable {
    var mode: WarmMode
    var cloudInitSeed = false
    var remoteHost = false
    var network: NetworkModeFact = .card
    var sharedFolders = false
    var state: WarmStateManifest?
    /// A state for this shape existed (stale or unusable): the shape is booted again.
    var stateExisted = false
    /// This shape was booted cold before (a second boot predicts a third).
    var bootedBefore = false
    /// Another architecture's CPU, emulated: a boot costs a minute, a save seconds.
    var emulatedArchitecture = false
    /// The VM outlives the run (-B, --name without --rm). It is never a template: QEMU keeps
    /// the credentials it started with for the guest's own reboots, and a template's are
    /// throwaway ones.
    var kept = false
    /// An emulated TPM: its identity (endorsement key) and sealed secrets would be shared by
    /// every clone of a state, so such VMs always boot cold.
    var tpm = false

    enum NetworkModeFact: Sendable, Equatable { case card, none }

    /// Whether a saved state could serve this VM: only then is the cache looked at.
    var cacheMatters: Bool {
        mode != .off && !sharedFolders && !cloudInitSeed && !remoteHost && network == .card && !tpm
    }
}

extension WarmStartPlan {
    static func decide(_ facts: WarmStartFacts) -> WarmStartPlan {
        guard facts.mode != .off else { return .cold(notice: nil) }
        if facts.sharedFolders {
            return .cold(notice: "no warm start for a VM with -v folders: a virtiofs share cannot be saved with the running state; booting")
        }
        // A cloud-init seed's first boot is what the user asked for; a remote host's states
        // would be files of this machine; without a network card the agent cannot be started.
        guard facts.cacheMatters else { return .cold(notice: nil) }
        if let state = facts.state {
            return facts.mode == .saveOnly ? .alreadyWarm(key: state.key) : .restore(state)
        }
        guard !facts.kept else { return .cold(notice: nil) }
        switch facts.mode {
        case .saveOnly: return .coldThenSave
        case .auto where facts.stateExisted || facts.bootedBefore || facts.emulatedArchitecture: return .coldThenSave
        default: return .cold(notice: nil)
        }
    }
}
