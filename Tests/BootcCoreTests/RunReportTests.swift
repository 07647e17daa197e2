// The JUnit report of a run (golden), with its escaping, for each outcome.

import BootcCore
import Foundation
import GoldenFiles
import Testing

@Suite struct RunReportTests {
    static func report(_ outcome: RunReport.Outcome, exitCode: Int32, message: String?) -> RunReport {
        RunReport(image: "localhost/my-image:<1>", command: ["sh", "-c", "exit 3 && echo \"&\""], vm: "my-image-3f2a",
                  outcome: outcome, exitCode: exitCode, message: message, started: Date(timeIntervalSince1970: 1_795_000_000),
                  seconds: 61.25, stages: [.init(name: "install", seconds: 3.5), .init(name: "boot", seconds: 0.4),
                                           .init(name: "ssh", seconds: 45), .init(name: "command", seconds: 12.35)],
                  artifacts: [], logs: [])
    }

    @Test func failedCommandIsAFailure() throws {
        try Golden.check(JUnitReport.render(Self.report(.failed, exitCode: 3, message: "the command exited with status 3")), "junit-failed.xml")
    }

    @Test func timeoutIsAnError() {
        let xml = JUnitReport.render(Self.report(.timedOut, exitCode: 124, message: "did not finish within 60s"))
        #expect(xml.contains("<error message=\"did not finish within 60s\" type=\"timeout\"/>"))
        #expect(xml.contains("failures=\"0\" errors=\"1\""))
    }

    @Test func passedHasNoResult() {
        let xml = JUnitReport.render(Self.report(.passed, exitCode: 0, message: nil))
        #expect(!xml.contains("<failure") && !xml.contains("<error"))
        #expect(xml.contains("name=\"localhost/my-image:&lt;1&gt; -- sh -c exit 3 &amp;&amp; echo &quot;&amp;&quot;\""))
    }
}
