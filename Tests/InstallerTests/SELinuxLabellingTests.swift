// The direct installer's SELinux labelling as pure steps: which images turn SELinux on, what
// setfiles says, and the debugfs script written from it (the end-to-end test runs them).

import Foundation
@testable import Installer
import Testing

@Suite struct SELinuxLabellingTests {
    func tree(config: String?, fileContexts: Bool = true, linkConfig: Bool = false) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("selinux-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("etc/selinux/default/contexts/files"), withIntermediateDirectories: true)
        if let config {
            if linkConfig {
                let real = root.appendingPathComponent("elsewhere")
                try Data(config.utf8).write(to: real)
                try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("etc/selinux/config").path, withDestinationPath: real.path)
            } else {
                try Data(config.utf8).write(to: root.appendingPathComponent("etc/selinux/config"))
            }
        }
        if fileContexts {
            try Data("/.*\tsystem_u:object_r:default_t:s0\n".utf8).write(to: root.appendingPathComponent("etc/selinux/default/contexts/files/file_contexts"))
        }
        return root
    }

    @Test func findsOnlyAPolicyThatIsOnAndShipped() throws {
        let on = try tree(config: "# comment\nSELINUX=enforcing\nSELINUXTYPE=default\n")
        defer { try? FileManager.default.removeItem(at: on) }
        #expect(SELinuxPolicy.find(in: on) == SELinuxPolicy(name: "default", mode: "enforcing"))
        for (config, contexts, link) in [("SELINUX=disabled\nSELINUXTYPE=default\n", true, false),
                                         ("SELINUX=permissive\nSELINUXTYPE=../../x\n", true, false),
                                         ("SELINUX=enforcing\nSELINUXTYPE=default\n", false, false),
                                         ("SELINUX=enforcing\nSELINUXTYPE=default\n", true, true)] {
            let root = try tree(config: config, fileContexts: contexts, linkConfig: link)
            defer { try? FileManager.default.removeItem(at: root) }
            #expect(SELinuxPolicy.find(in: root) == nil, "\(config) contexts=\(contexts) link=\(link)")
        }
        let none = try tree(config: nil)
        defer { try? FileManager.default.removeItem(at: none) }
        #expect(SELinuxPolicy.find(in: none) == nil)
    }

    @Test func readsSetfilesOutputWithSpacesInPaths() throws {
        let output = """
            Would relabel /t/root from (null) to system_u:object_r:root_t:s0
            Would relabel /t/root/etc/a b from (null) to system_u:object_r:etc_t:s0
            Would relabel /t/root/usr/x from system_u:object_r:container_file_t:s0:c1,c2 to system_u:object_r:usr_t:s0
            setfiles: something informational
            """
        let labels = try SELinuxLabelling.labels(fromSetfiles: output, root: "/t/root")
        #expect(labels.map(\.path) == ["/", "/etc/a b", "/usr/x"])
        #expect(labels.map(\.label) == ["system_u:object_r:root_t:s0", "system_u:object_r:etc_t:s0", "system_u:object_r:usr_t:s0"])
        #expect(throws: SELinuxLabellingError.self) {
            try SELinuxLabelling.labels(fromSetfiles: "Would relabel /elsewhere/x from (null) to system_u:object_r:etc_t:s0", root: "/t/root")
        }
        #expect(throws: SELinuxLabellingError.self) {
            try SELinuxLabelling.labels(fromSetfiles: "Would relabel /t/root/x from (null) to bad;label", root: "/t/root")
        }
    }

    @Test func debugfsScriptQuotesPathsAndRefusesLineBreaks() throws {
        let script = try SELinuxLabelling.debugfsScript([("/etc/a \"b\"", "system_u:object_r:etc_t:s0")])
        #expect(script == "ea_set \"/etc/a \"\"b\"\"\" security.selinux system_u:object_r:etc_t:s0\n")
        #expect(throws: SELinuxLabellingError.self) { try SELinuxLabelling.debugfsScript([("/etc/a\nb", "system_u:object_r:etc_t:s0")]) }
        // A line debugfs would cut (its rest run as a command) and a name that was not UTF-8.
        let long = "/" + String(repeating: "\u{FFFD}", count: 10) + "x"
        #expect(throws: SELinuxLabellingError.self) { try SELinuxLabelling.debugfsScript([(long, "system_u:object_r:etc_t:s0")]) }
        let tooLong = "/" + String(repeating: "\"", count: 2100) + "!reboot"
        #expect(throws: SELinuxLabellingError.self) { try SELinuxLabelling.debugfsScript([(tooLong, "system_u:object_r:etc_t:s0")]) }
    }
}
