// The real binary against hostile input: fuzzed arguments (sizes, durations, ports, names,
// references), fuzzed images.yml, .build units and VM records. Every invocation must end on
// its own within seconds, with an exit code the README documents and an `Error:` line, and
// must leave the state folder exactly as it found it. Seeded: a failure names its input.

import Foundation
import GoldenFiles
import Subprocess
import Testing

#if canImport(System)
import System
#else
import SystemPackage
#endif

extension EndToEnd {
@Suite struct FuzzTests {
    /// What any of these invocations may exit with: success, usage, tool failure, not found.
    static let documentedCodes: Set<Int32> = [0, 64, 125, 127]
    /// Longer than any of them needs (podman answers in well under a second); a hang is killed.
    static let limit = 20

    let state = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-state-\(UUID().uuidString.prefix(8))")
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-work-\(UUID().uuidString.prefix(8))")

    /// Hostile words: overflowing numbers, signs, non-ASCII digits, shell and format text,
    /// paths that climb, empty and huge values.
    static let words = [
        "", " ", "-", "--", "0", "-1", "+80", "inf", "nan", "1e300", "99999999999999h", "18446744073709551615",
        "9000000T", "65536:80", "80:+80", "٨٠:80", "0.0.0.0:1:1", "1.2.3.4.5:1:1", "../../etc", "/", ".", "a b", "a\nb",
        "a\tb", "é", "%s%n%x", "$(id)", "`id`", ";id", "|id", "UPPER/Case", "localhost/x:-y", "x@sha256:1", "a//b",
        String(repeating: "x", count: 5000), "\u{202E}", "\r\n", "5m", "10G", "8080:80", "auto", "root",
    ]

    func mutate(_ word: String, _ generator: inout SeededGenerator) -> String {
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: return word
        case 1: return word + (Self.words.randomElement(using: &generator) ?? "")
        case 2: return String(word.reversed())
        default: return String(word.prefix(Int.random(in: 0...max(0, word.count), using: &generator)))
        }
    }

    /// Every path under the state folder (what "no new file" compares).
    /// What the runs left in the state folder. podman's remembered answers (a valid image
    /// inspected before a bad option was refused) are a cache, not something a bad input made.
    func stateTree() -> Set<String> {
        let found = FileManager.default.enumerator(atPath: state.path)?.compactMap { $0 as? String } ?? []
        return Set(found).subtracting(["cache/.podman-inspections.json"])
    }

    struct Outcome {
        var status: Int32
        var stderr: String
        var signaled: Bool
    }

    /// Runs the binary under timeout(1) with SIGKILL: a hang shows as signal 9.
    func invoke(_ arguments: [String]) async throws -> Outcome {
        try await invoke(bytes: arguments.map { Array($0.utf8) })
    }

    /// The same with arguments as bytes (a path that is not UTF-8).
    func invoke(bytes arguments: [[UInt8]]) async throws -> Outcome {
        let environment: [Environment.Key: String?] = ["PODMAN_BOOTC_STATE_DIR": state.path, "PODMAN_BOOTC_PROGRESS": "never"]
        let prefix = ["-s", "KILL", String(Self.limit), Harness.binary].map { Array($0.utf8) }
        let result = try await Subprocess.run(
            // swift-subprocess strdup()s raw arguments: each needs its NUL.
            .path(FilePath("/usr/bin/timeout")), arguments: Arguments((prefix + arguments).map { $0 + [0] }),
            environment: .inherit.updating(environment), workingDirectory: FilePath(work.path),
            output: .discarded, error: .string(limit: 1 << 20))
        switch result.terminationStatus {
        case .exited(let code): return Outcome(status: code, stderr: result.standardError, signaled: code == 137)
        case .signaled(let signal): return Outcome(status: 128 + signal, stderr: result.standardError, signaled: true)
        }
    }

    /// One invocation: documented code, an error line when it failed, no state change.
    @discardableResult
    func check(_ arguments: [String], allowed: Set<Int32> = FuzzTests.documentedCodes,
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> Outcome {
        try await check(bytes: arguments.map { Array($0.utf8) }, allowed: allowed, sourceLocation: sourceLocation)
    }

    @discardableResult
    func check(bytes arguments: [[UInt8]], allowed: Set<Int32> = FuzzTests.documentedCodes,
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> Outcome {
        let before = stateTree()
        let outcome = try await invoke(bytes: arguments)
        let shown = arguments.map { String(String(decoding: $0, as: UTF8.self).debugDescription.prefix(80)) }.joined(separator: " ")
        #expect(!outcome.signaled, "killed or crashed (status \(outcome.status)): \(shown)\n\(outcome.stderr.suffix(400))",
                sourceLocation: sourceLocation)
        #expect(allowed.contains(outcome.status), "exit \(outcome.status): \(shown)\n\(outcome.stderr.suffix(400))",
                sourceLocation: sourceLocation)
        if outcome.status != 0 {
            #expect(outcome.stderr.contains("Error:"), "no Error: line for exit \(outcome.status): \(shown)", sourceLocation: sourceLocation)
        }
        #expect(stateTree() == before, "the state folder changed: \(shown)", sourceLocation: sourceLocation)
        return outcome
    }

    func prepare() async throws {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: state.appendingPathComponent("vms"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: state.appendingPathComponent("cache"), withIntermediateDirectories: true)
        // Whatever a first command sets up once (marker, modes) is done before the snapshots.
        _ = try await invoke(["list"])
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: state)
        try? FileManager.default.removeItem(at: work)
    }

    @Test func fuzzedArgumentsEndCleanly() async throws {
        try await prepare()
        defer { cleanUp() }
        var generator = SeededGenerator(seed: 0xB007C)
        let image = Harness.demoImage
        // Options whose values are parsed; `--dry-run` keeps a valid combination from booting.
        let valued = ["--timeout", "--ssh-timeout", "--disk-size", "--memory", "--cpus", "-p", "--name", "-u", "--accel",
                      "--artifact", "--karg", "--root-size-max", "--filesystem", "--installer", "--format"]
        // The values a sweep once crashed the tool with (Swift traps), then random ones.
        for (option, value) in [("--timeout", "inf"), ("--timeout", "1e300"), ("--ssh-timeout", "99999999999999h"),
                                ("--disk-size", "18446744073709551615"), ("--disk-size", "9000000T"), ("-p", "+80:80")] {
            try await check(["run", "--dry-run", option, value, image], allowed: [64])
        }
        for _ in 0..<120 {
            let option = valued.randomElement(using: &generator)!
            let value = mutate(Self.words.randomElement(using: &generator)!, &generator)
            try await check(["run", "--dry-run", option, value, image])
        }
        // The image argument itself, and VM references for the commands that take one.
        for _ in 0..<40 {
            let word = mutate(Self.words.randomElement(using: &generator)!, &generator)
            try await check(["run", "--dry-run", word])
            let command = [["rm", "-f"], ["rm"], ["inspect"], ["logs"], ["stop"], ["start", "-B"], ["ssh"]].randomElement(using: &generator)!
            try await check(command + [word])
        }
        try await check(["rm", "-f", ""], allowed: [127])
        try await check(["rm", "-f", "zz"], allowed: [127])
        // An image reference podman would choke on is ours to report: usage, not podman's 125.
        try await check(["run", "--dry-run", "UPPER/Case:x"], allowed: [64])
        try await check(["run", "--dry-run", "localhost/podman-bootc-fuzz-missing:x"], allowed: [127])
        try await check(["run", "--name", "bad/name", "localhost/podman-bootc-fuzz-missing:x"], allowed: [64])

        // export checks its options before it looks for the image: a bad value is 64, a good
        // one reaches the missing image (127); nothing is written either way.
        let exportValued = ["--format", "-o", "-t", "--identity", "--name", "-u", "--cpus", "--memory"]
        for _ in 0..<40 {
            let option = exportValued.randomElement(using: &generator)!
            let value = mutate(Self.words.randomElement(using: &generator)!, &generator)
            let format = ["raw", "qcow2", "containerdisk", "kubevirt"].randomElement(using: &generator)!
            try await check(["export", "--format", format, option, value, "localhost/podman-bootc-fuzz-missing:x"], allowed: [64, 127])
        }
        try await check(["export", "--format", "qcow2", "-o", "/", image], allowed: [64])
        try await check(["export", "--format", "kubevirt", "--name", "Bad_Name", image], allowed: [64])
        try await check(["export", "--format", "raw", "-t", "localhost/x:1", image], allowed: [64])

        // A remote libvirt URI podman-bootc cannot reach guests through is refused up front (64).
        for uri in ["qemu+tcp://hv1/system", "qemu://hv1/system", "qemu+ssh://hv1/", "qemu+ssh://-oProxyCommand=id/system",
                    "qemu+ssh://hv1/system\n", "lxc+ssh://hv1/"] {
            try await check(["run", "--connect", uri, "localhost/podman-bootc-fuzz-missing:x"], allowed: [64])
            try await check(["list", "--connect", uri], allowed: [64])
        }
        for _ in 0..<20 {
            let host = mutate(Self.words.randomElement(using: &generator)!, &generator)
            try await check(["run", "--dry-run", "--connect", "qemu+ssh://\(host)/system", "localhost/podman-bootc-fuzz-missing:x"],
                            allowed: [64, 127])
        }
    }

    @Test func fuzzedProjectFilesEndCleanly() async throws {
        try await prepare()
        defer { cleanUp() }
        var generator = SeededGenerator(seed: 0x1A7E5)
        let project = work.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project.appendingPathComponent("layers/tool"), withIntermediateDirectories: true)
        try "deb:\n  packages: [curl]\n".write(to: project.appendingPathComponent("layers/tool/layer.yml"), atomically: false, encoding: .utf8)
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { bomb += "l\(level): &l\(level) [" + Array(repeating: level == 1 ? "*a" : "*l\(level - 1)", count: 9).joined(separator: ", ") + "]\n" }
        var chain = "defaults:\n  base: debian\n  pkg: deb\nimages:\n  i0:\n    layers: [tool]\n"
        for index in 1..<200 { chain += "  i\(index):\n    base: i\(index - 1)\n    layers: [tool]\n" }
        let seeds = [
            "images:\n  app:\n    base: debian\n    pkg: deb\n    layers: [tool]\n",
            bomb + "images:\n  ? *l9\n  : x\n",
            chain,
            "defaults:\n  tag: \"1\\nRUN id\"\nimages:\n  app:\n    layers: [tool]\n",
            "images:\n  app:\n    uid: 99999999999999999999\n    ports: [\"+80\", \"0:0\"]\n    layers: [tool]\n",
            "images: [\n", "\u{0}", "images:\n\tapp: {}\n", String(repeating: "- ", count: 10_000),
        ]
        let pieces = [":", "-", " ", "\n", "[", "]", "{", "}", "\"", "'", "&a", "*a", "!!", "#", "\t", "0", "~", "|", "\r\n"]
        for round in 0..<60 {
            let seed = seeds[round % seeds.count]
            let text = round < seeds.count ? seed : generator.mutate(seed, pieces: pieces, edits: 1...6)
            try text.write(to: project.appendingPathComponent("images.yml"), atomically: false, encoding: .utf8)
            // layers commands write .build/ only on generate; validate and plans never do.
            try await check(["layers", "validate", "--dir", project.path], allowed: [0, 1, 2])
            try await check(["run", "--dry-run", "--config", project.appendingPathComponent("images.yml").path, "app"])
            #expect(!FileManager.default.fileExists(atPath: project.appendingPathComponent(".build").path), "a dry run wrote .build/")
        }
    }

    @Test func fuzzedUnitFilesEndCleanly() async throws {
        try await prepare()
        defer { cleanUp() }
        var generator = SeededGenerator(seed: 0x0B11D)
        let unit = work.appendingPathComponent("app.build")
        try "FROM \(Harness.demoImage)\n".write(to: work.appendingPathComponent("Containerfile"), atomically: false, encoding: .utf8)
        let seeds = [
            "[Build]\nImageTag=localhost/fuzz-app\nFile=Containerfile\nSetWorkingDirectory=\(work.path)\n",
            "[Build]\r\nImageTag=localhost/fuzz-app\r\nFile=Containerfile\r\n",
            "[Build]\nImageTag=localhost/fuzz-app\nPodmanArgs=" + String(repeating: "x \\\n", count: 100_000) + "end\n",
            "ImageTag=before-any-section\n", "[Build\n", "[Build]\nImageTag=a\u{0}b\n", "[Build]\n=novalue\n",
            "[Build]\nImageTag=UPPER/Case\n", "[Build]\nEnvironment=A=${A}${A}${A}\nImageTag=localhost/${A}\n",
        ]
        let pieces = ["=", "\\", "\n", "[", "]", "$", "{", "}", "%", " ", "\r", "#", ";", "\"", "'"]
        for round in 0..<50 {
            let seed = seeds[round % seeds.count]
            let text = round < seeds.count ? seed : generator.mutate(seed, pieces: pieces, edits: 1...4)
            try text.write(to: unit, atomically: false, encoding: .utf8)
            try await check(["run", "--dry-run", unit.path])
            try await check(["invariance", "check", unit.path])
        }
    }

    @Test func fuzzedVMRecordsAreIgnoredNotDeleted() async throws {
        try await prepare()
        defer { cleanUp() }
        var generator = SeededGenerator(seed: 0x5EC0D)
        let valid: [String: Any] = [
            "id": "abcdef123456", "name": "fuzzvm", "domainName": "fuzzvm", "image": "localhost/x", "imageID": "abc",
            "architecture": "x86_64", "accelerator": "tcg", "cpus": 2, "memoryMiB": 2048, "sshPort": 40022, "sshUser": "root",
            "removeOnExit": false, "created": "2026-12-01T00:00:00Z",
        ]
        let hostile: [String: Any] = [
            "sshPort": 70000, "cpus": -1, "memoryMiB": Int.max, "name": "../../etc", "id": "x/y", "domainName": "a'b<c>",
            "forwards": [["hostAddress": "127.0.0.1", "hostPort": 99999, "guestPort": 80, "proto": "tcp"]],
            "architecture": "sparc", "created": "yesterday", "sshUser": "",
        ]
        for round in 0..<30 {
            let id = String(format: "f%011x", round)
            var record = valid
            record["id"] = id
            // One to three hostile fields; some rounds write plain garbage instead of JSON.
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let (key, value) = hostile.randomElement(using: &generator)!
                record[key] = value
            }
            let folder = state.appendingPathComponent("vms/\(id)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let data = round % 5 == 4 ? Data("{\"id\": \"\(id)\", trunc".utf8) : try JSONSerialization.data(withJSONObject: record)
            try data.write(to: folder.appendingPathComponent("vm.json"))
            // A console log that is a folder: `logs` must say so, not crash.
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("console.log"), withIntermediateDirectories: true)
            // An old mtime: the sweep of incomplete folders must still keep it.
            utimes(folder.path, [timeval(tv_sec: 1_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000, tv_usec: 0)])
            for command in [["list"], ["list", "--format", "json", "-a"], ["inspect", id], ["logs", id], ["rm", "-f", id], ["ssh", id, "--", "true"]] {
                try await check(command)
            }
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("vm.json").path), "a record that does not decode was deleted")
        }
        // A valid record whose console log is a folder: `logs` is an error, not a crash.
        let id = "abcdef123456"
        let folder = state.appendingPathComponent("vms/\(id)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("console.log"), withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: valid).write(to: folder.appendingPathComponent("vm.json"))
        try await check(["logs", id], allowed: [125])
    }

    // MARK: Hostile input, round 2 (issue 26)

    /// A project folder in `work` with one layer, and `images` as its images.yml (bytes, so CRLF
    /// and tabs stay as written).
    func project(_ name: String, images: String) throws -> URL {
        let folder = work.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("layers/tool"), withIntermediateDirectories: true)
        try "deb:\n  packages: [curl]\n".write(to: folder.appendingPathComponent("layers/tool/layer.yml"), atomically: false, encoding: .utf8)
        try Data(images.utf8).write(to: folder.appendingPathComponent("images.yml"))
        return folder
    }

    /// Nine levels of nine aliases, written the way a whitespace scan missed them.
    static func aliasBomb(separator: String, newline: String) -> String {
        var yaml = "# a comment first\(newline)a: &a [x, x, x, x, x, x, x, x, x]\(newline)"
        for level in 1...9 {
            let previous = level == 1 ? "a" : "l\(level - 1)"
            yaml += "l\(level): &l\(level) [" + Array(repeating: "\(separator)*\(previous)", count: 9).joined(separator: ",") + "]\(newline)"
        }
        return yaml + "images:\(newline)  ? [\(separator)*l9]\(newline)  : x\(newline)  app:\(newline)    layers: [tool]\(newline)"
    }

    /// c0 on the demo image, each next image on the one before.
    static func chain(_ count: Int) -> String {
        var yaml = "defaults:\n  pkg: deb\nimages:\n  c0:\n    base: \(Harness.demoImage)\n    layers: [tool]\n"
        for index in 1..<count { yaml += "  c\(index):\n    base: c\(index - 1)\n    layers: [tool]\n" }
        return yaml
    }

    @Test func aliasBombsAWhitespaceScanMissedAreRefused() async throws {
        try await prepare()
        defer { cleanUp() }
        for (name, separator, newline) in [("tab", "\t", "\n"), ("crlf", " ", "\r\n"), ("tab-crlf", "\t", "\r\n")] {
            let folder = try project("bomb-\(name)", images: Self.aliasBomb(separator: separator, newline: newline))
            let images = folder.appendingPathComponent("images.yml").path
            for arguments in [["run", "--dry-run", "--config", images, "app"], ["layers", "validate", "--dir", folder.path]] {
                let started = ContinuousClock.now
                let outcome = try await check(arguments, allowed: arguments[0] == "run" ? [64] : [1])
                #expect(ContinuousClock.now - started < .seconds(5), "\(name): \(arguments[0]) took \(ContinuousClock.now - started)")
                #expect(outcome.stderr.contains("images.yml:3: YAML aliases (*name) are not supported"), "\(name): \(outcome.stderr)")
            }
        }
    }

    @Test func longImageChainsArePlannedOnce() async throws {
        try await prepare()
        defer { cleanUp() }
        let forty = try project("chain40", images: Self.chain(40))
        try await check(["run", "--dry-run", "--config", forty.appendingPathComponent("images.yml").path, "c39"], allowed: [0])
        // A 100-image chain costs what one image costs: one generation, one inspection. The
        // first image of the same project is the baseline (process start, podman's answer).
        let hundred = try project("chain100", images: Self.chain(100)).appendingPathComponent("images.yml").path
        func timed(_ image: String) async throws -> Duration {
            let started = ContinuousClock.now
            try await check(["run", "--dry-run", "--config", hundred, image], allowed: [0])
            return ContinuousClock.now - started
        }
        _ = try await timed("c0")  // podman's first answer is slower
        let one = try await timed("c0")
        let last = try await timed("c99")
        #expect(last < .seconds(1), "run --dry-run c99 took \(last) (c0: \(one))")
        #expect(last - one < .milliseconds(500), "the chain cost \(last - one) beyond its first image")
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("chain100/.build").path), "a dry run wrote .build/")
    }

    @Test func aFolderNamedInBytesThatAreNotUTF8() async throws {
        try await prepare()
        defer { cleanUp() }
        let name = Array("proj".utf8) + [0xFF]
        let folder = Array(work.path.utf8) + Array("/".utf8) + name
        let made = (folder.map { CChar(bitPattern: $0) } + [0]).withUnsafeBufferPointer { mkdir($0.baseAddress!, 0o755) }
        #expect(made == 0)
        let containerfile = (folder + Array("/Containerfile".utf8)).map { CChar(bitPattern: $0) } + [0]
        let descriptor = containerfile.withUnsafeBufferPointer { open($0.baseAddress!, O_WRONLY | O_CREAT | O_EXCL, 0o644) }
        _ = "FROM \(Harness.demoImage)\n".utf8CString.dropLast().withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        let hashed = try await check(bytes: [Array("invariance".utf8), Array("hash".utf8), folder], allowed: [0])
        #expect(hashed.stderr.isEmpty, "\(hashed.stderr)")
        try await check(bytes: [Array("invariance".utf8), Array("hash".utf8), Array("--root".utf8), folder, Array(".".utf8)], allowed: [0])
        // Its parent, with the name inside it, hashes too.
        try await check(["invariance", "hash", work.path], allowed: [0])
        // `run` cannot name it to podman build: a usage error that says so.
        let run = try await check(bytes: [Array("run".utf8), Array("--dry-run".utf8), folder], allowed: [64])
        #expect(run.stderr.contains("is not UTF-8"), "\(run.stderr)")
    }

    @Test func diskSizesAndKernelArgumentsThatCannotWork() async throws {
        try await prepare()
        defer { cleanUp() }
        let folder = work.appendingPathComponent("app")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "FROM \(Harness.demoImage)\n".write(to: folder.appendingPathComponent("Containerfile"), atomically: false, encoding: .utf8)
        for size in ["0", "0G", "1", "63M", "-1"] {
            try await check(["run", "--dry-run", "--disk-size", size, folder.path], allowed: [64])
            try await check(["run", "--dry-run", "--disk-size", size, Harness.demoImage], allowed: [64])
        }
        // Above the floor, below the image's own size: refused when planned, naming the size.
        let small = try await check(["run", "--dry-run", "--disk-size", "64M", Harness.demoImage], allowed: [64])
        #expect(small.stderr.contains("use --disk-size"), "\(small.stderr)")
        for karg in ["\u{1}", "a\nb", "quiet\r", "\u{7F}", "x\u{85}", "a\u{202E}b", "foo=\"bar", "a\u{A0}b"] {
            let outcome = try await check(["run", "--dry-run", "--karg", karg, folder.path], allowed: [64])
            #expect(outcome.stderr.contains("is not one kernel argument"), "\(outcome.stderr)")
        }
    }

    /// A parse that takes minutes (a 200,000-image images.yml, 9 MB: no alias, nothing
    /// illegal, just big) ends within 2 s of SIGTERM or SIGINT, in `run` and in a synchronous
    /// command alike, with 143 / 130 and the state folder as it was.
    @Test func signalsEndALongParse() async throws {
        try await prepare()
        defer { cleanUp() }
        var yaml = "images:\n"
        for index in 0..<200_000 { yaml += "  i\(index):\n    base: debian\n    layers: [tool]\n" }
        let folder = try project("huge", images: yaml)
        let images = folder.appendingPathComponent("images.yml").path
        for (arguments, signal) in [(["run", "--dry-run", "--config", images, "i5"], SIGTERM), (["layers", "validate", "--dir", folder.path], SIGINT),
                                    (["run", "--dry-run", "--config", images, "i5"], SIGINT)] {
            let before = stateTree()
            var signalled = ContinuousClock.now
            var alive = false
            var watchdog: Task<Void, Never>?
            let result = try await Subprocess.run(
                .path(FilePath(Harness.binary)), arguments: Arguments(arguments),
                environment: .inherit.updating(["PODMAN_BOOTC_STATE_DIR": state.path, "PODMAN_BOOTC_PROGRESS": "never"]),
                workingDirectory: FilePath(work.path), input: .none, output: .discarded, error: .discarded
            ) { execution in
                try await Task.sleep(for: .seconds(1))
                alive = kill(execution.processIdentifier.value, 0) == 0
                signalled = ContinuousClock.now
                let pid = execution.processIdentifier.value
                kill(pid, signal)
                // A hang is ended here, so the test reports it instead of waiting for it;
                // cancelled once the process is reaped, before its pid could be reused.
                watchdog = Task {
                    try? await Task.sleep(for: .seconds(20))
                    if !Task.isCancelled { kill(pid, SIGKILL) }
                }
            }
            watchdog?.cancel()
            let ended = ContinuousClock.now - signalled
            #expect(alive, "\(arguments[0]) had ended within 1 s: no parse to interrupt")
            #expect(ended < .seconds(2), "\(arguments[0]) ended \(ended) after signal \(signal)")
            #expect(Harness.code(result.terminationStatus) == 128 + signal, "\(arguments[0]): \(result.terminationStatus)")
            #expect(stateTree() == before, "the state folder changed")
        }
    }
}
}
