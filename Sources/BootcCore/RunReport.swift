// What a `run` did, for CI: outcome, exit code, per-stage timings, artifacts; rendered as a
// JSON summary or a JUnit XML report (one test case per run).

import Foundation

public struct RunReport: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable {
        /// The command (or shell) exited 0.
        case passed
        /// The command exited non-zero.
        case failed
        /// --timeout expired; the VM was destroyed.
        case timedOut = "timed-out"
        /// podman-bootc or the VM failed before the command could report a status.
        case error
    }

    public struct Stage: Codable, Sendable, Equatable {
        public var name: String
        public var seconds: Double

        public init(name: String, seconds: Double) {
            self.name = name
            self.seconds = seconds
        }
    }

    public var image: String
    public var command: [String]
    public var vm: String?
    public var outcome: Outcome
    public var exitCode: Int32
    public var message: String?
    public var started: Date
    public var seconds: Double
    public var stages: [Stage]
    public var artifacts: [String]
    public var logs: [String]

    public init(image: String, command: [String], vm: String?, outcome: Outcome, exitCode: Int32, message: String?,
                started: Date, seconds: Double, stages: [Stage], artifacts: [String], logs: [String]) {
        self.image = image
        self.command = command
        self.vm = vm
        self.outcome = outcome
        self.exitCode = exitCode
        self.message = message
        self.started = started
        self.seconds = seconds
        self.stages = stages
        self.artifacts = artifacts
        self.logs = logs
    }
}

public enum JUnitReport {
    /// JUnit XML as CI systems read it: a failed command is a <failure>, a timeout or a tool
    /// or VM failure an <error>; stage timings are properties and part of system-out.
    public static func render(_ report: RunReport) -> String {
        let e = XMLText.escaped
        let time = String(format: "%.3f", report.seconds)
        let failures = report.outcome == .failed ? 1 : 0
        let errors = report.outcome == .timedOut || report.outcome == .error ? 1 : 0
        let name = report.command.isEmpty ? report.image : "\(report.image) -- \(report.command.joined(separator: " "))"
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        x += "<testsuites name=\"podman-bootc\" tests=\"1\" failures=\"\(failures)\" errors=\"\(errors)\" time=\"\(time)\">\n"
        x += "  <testsuite name=\"podman-bootc run\" tests=\"1\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"0\" time=\"\(time)\" timestamp=\"\(formatter.string(from: report.started))\">\n"
        x += "    <properties>\n"
        x += "      <property name=\"image\" value=\"\(e(report.image))\"/>\n"
        if let vm = report.vm { x += "      <property name=\"vm\" value=\"\(e(vm))\"/>\n" }
        x += "      <property name=\"exit-code\" value=\"\(report.exitCode)\"/>\n"
        for stage in report.stages {
            x += "      <property name=\"stage.\(e(stage.name)).seconds\" value=\"\(String(format: "%.3f", stage.seconds))\"/>\n"
        }
        x += "    </properties>\n"
        x += "    <testcase name=\"\(e(name))\" classname=\"podman-bootc.run\" time=\"\(time)\">\n"
        let message = e(report.message ?? "")
        switch report.outcome {
        case .passed: break
        case .failed: x += "      <failure message=\"\(message)\" type=\"exit-status\">exit status \(report.exitCode)</failure>\n"
        case .timedOut: x += "      <error message=\"\(message)\" type=\"timeout\"/>\n"
        case .error: x += "      <error message=\"\(message)\" type=\"podman-bootc\"/>\n"
        }
        let stages = report.stages.map { "\($0.name): \(String(format: "%.1f", $0.seconds))s" }.joined(separator: "\n")
        x += "      <system-out>\(e(stages))</system-out>\n"
        x += "    </testcase>\n  </testsuite>\n</testsuites>\n"
        return x
    }
}
