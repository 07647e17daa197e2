// Stops the programs this process started (podman build, mkfs, qemu-img, the bootc
// container's podman) when a run ends early: a deadline or a signal must not leave them
// writing into a cache folder that is being removed.

import Foundation

public enum ChildProcesses {
    /// PIDs whose parent is this process, read from /proc (children of every thread).
    public static func current() -> [pid_t] {
        let me = getpid()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name -> pid_t? in
            guard let pid = pid_t(name), pid != me,
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // Fields after the command name: state, ppid, ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, pid_t(fields[1]) == me else { return nil }
            return pid
        }
    }

    /// SIGTERM to every child (podman forwards it to its container), then SIGKILL to those
    /// still there after `grace`. Polls every 50 ms; returns as soon as all are gone.
    public static func terminateAll(grace: Duration = .seconds(3)) {
        terminate(current(), grace: grace)
    }

    static func terminate(_ pids: [pid_t], grace: Duration) {
        var children = pids
        guard !children.isEmpty else { return }
        for pid in children { kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            children = children.filter { isAliveChild($0) }
            if children.isEmpty { return }
            usleep(50_000)
        }
        for pid in children { kill(pid, SIGKILL) }
    }

    /// Still running (a zombie has finished: its parent only has not reaped it yet).
    private static func isAliveChild(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.first != "Z" && fields.first != "X"
    }
}
