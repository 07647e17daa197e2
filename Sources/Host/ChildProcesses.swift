// Stops the programs this process started (podman build and the RUN step it runs, mkfs,
// qemu-img, the bootc container's podman) when a run ends early: a deadline or a signal must
// not leave them writing into a cache folder that is being removed.

import Foundation

public enum ChildProcesses {
    /// PIDs whose parent is this process, read from /proc (children of every thread).
    public static func current() -> [pid_t] {
        let me = getpid()
        return parents().filter { $0.value == me }.map(\.key)
    }

    /// Every process below this one (children, their children, ...), nearest first.
    public static func descendants() -> [pid_t] {
        let parentOf = parents()
        var found: [pid_t] = []
        var frontier: Set<pid_t> = [getpid()]
        while !frontier.isEmpty {
            let next = parentOf.filter { frontier.contains($0.value) }.map(\.key)
            found += next.sorted()
            frontier = Set(next)
        }
        return found
    }

    /// SIGTERM to every descendant, then SIGKILL to those still there after `grace`. All of
    /// them, not only children: podman build's RUN step runs under runc, and killing podman
    /// alone leaves that container running with nobody to stop it. Polls every 50 ms and
    /// returns as soon as all are gone.
    public static func terminateAll(grace: Duration = .seconds(10)) {
        terminate(descendants(), grace: grace)
    }

    static func terminate(_ pids: [pid_t], grace: Duration) {
        var alive = pids
        guard !alive.isEmpty else { return }
        for pid in alive { kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            alive = alive.filter(isRunning)
            if alive.isEmpty { return }
            usleep(50_000)
        }
        for pid in alive { kill(pid, SIGKILL) }
    }

    /// pid -> parent pid of every process, from /proc/PID/stat.
    private static func parents() -> [pid_t: pid_t] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var result: [pid_t: pid_t] = [:]
        for name in names {
            guard let pid = pid_t(name), let fields = statFields(pid), fields.count > 1, let parent = pid_t(fields[1]) else { continue }
            result[pid] = parent
        }
        return result
    }

    /// The fields after the command name (which may hold spaces and parentheses).
    private static func statFields(_ pid: pid_t) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// Still running (a zombie has finished: its parent only has not reaped it yet).
    private static func isRunning(_ pid: pid_t) -> Bool {
        guard let state = statFields(pid)?.first else { return false }
        return state != "Z" && state != "X"
    }
}
