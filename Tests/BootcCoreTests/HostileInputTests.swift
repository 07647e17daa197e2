// Values from the command line and from state files that once crashed the tool: each is
// now rejected (nil) or bounded, never a trap.

import BootcCore
import Foundation
import GoldenFiles
import Testing

@Suite struct HostileInputTests {
    @Test(arguments: ["inf", "nan", "1e300", "99999999999999h", "-5s", "+5s", "1e3", "٣s", "5 m", ".", "1..2s", "9999999999999999999999"])
    func durationsThatAreRejected(text: String) {
        #expect(DurationParser.parse(text) == nil)
    }

    @Test func durationsUpToAYear() {
        #expect(DurationParser.parse("8784h") == DurationParser.maximum)
        #expect(DurationParser.parse("8785h") == nil)
        #expect(DurationParser.parse("1.5") == .milliseconds(1500))
    }

    @Test(arguments: ["18446744073709551615", "9000000T", "2P", "１G", "1G1", "0x10"])
    func sizesThatAreRejected(text: String) {
        #expect(ByteSize(parsing: text) == nil)
    }

    @Test func roundingNeverOverflows() {
        #expect(ByteSize(bytes: .max).roundedUp(to: 1 << 20).bytes % (1 << 20) == 0)
        #expect(ByteSize(parsing: "1024T")?.bytes == 1 << 50)
    }

    @Test(arguments: ["+80:80", "80:+80", "٨٠:80", "0:80", "65536:80", "080000:80", "1.2.3.4.5:80:80", "1.2.3.+4:80:80", "a:80", ":80", "80:80/sctp"])
    func portsThatAreRejected(text: String) {
        #expect(PortForward(parsing: text) == nil)
    }

    @Test func portsThatAreAccepted() {
        #expect(PortForward(parsing: "8080:80")?.hostfwd == "tcp:127.0.0.1:8080-:80")
        #expect(PortForward(parsing: "0.0.0.0:53:53/udp")?.hostfwd == "udp:0.0.0.0:53-:53")
    }

    @Test func recordsWithImpossibleValuesAreNotSane() {
        var record = VMRecord(id: "3f2a00000000", name: "web", domainName: "web", image: "localhost/x", imageID: "abc",
                              architecture: .x86_64, accelerator: .tcg, cpus: 2, memoryMiB: 2048, sshPort: 40022,
                              sshUser: "root", removeOnExit: false, ownerPID: nil, created: Date())
        #expect(record.isSane)
        record.sshPort = 70000
        #expect(!record.isSane)
        record.sshPort = 40022
        record.forwards = [PortForward(hostPort: 99999, guestPort: 80)]
        #expect(!record.isSane)
        record.forwards = nil
        record.name = "../../etc"
        #expect(!record.isSane)
    }

    /// Random text into every parser: an answer or nil, never a trap, always within bounds.
    @Test func fuzzedValuesNeverTrap() {
        var generator = SeededGenerator(seed: 12)
        let alphabet = Array("0123456789.:+-eE/hmsKMGTPiB abcinf\u{0}\u{663}\u{FF11}x")
        for _ in 0..<20_000 {
            let text = String((0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            if let duration = DurationParser.parse(text) { #expect(duration <= DurationParser.maximum) }
            if let size = ByteSize(parsing: text) { #expect(size <= ByteSize.maximum) }
            if let port = PortForward(parsing: text) { #expect(port.isValid) }
        }
    }

    /// What cannot be one word of a kernel command line: control characters (U+0001, a
    /// newline, DEL, C1, bidi overrides), any space, a quote left open, nothing, too much.
    @Test(arguments: ["\u{1}", "a\nb", "quiet\r", "x\u{7F}", "x\u{85}", "x\u{202E}y", "a b", "a\tb", "a\u{A0}b", "a\u{2028}b",
                      "foo=\"bar", "\"", "", String(repeating: "x", count: 1025)])
    func kernelArgumentsThatAreRejected(argument: String) {
        #expect(KernelArgument.problem(with: argument) != nil, "\(argument.debugDescription)")
    }

    @Test(arguments: ["quiet", "console=ttyS0,115200n8", "enforcing=0", "foo=\"bar\"", "rd.break", "systemd.unit=rescue.target", "é=ü",
                      String(repeating: "x", count: 1024)])
    func kernelArgumentsThatAreAccepted(argument: String) {
        #expect(KernelArgument.problem(with: argument) == nil)
    }

    @Test func aControlCharacterIsNamed() {
        #expect(KernelArgument.problem(with: "a\u{1}") == "it has the control character U+0001")
    }
}
