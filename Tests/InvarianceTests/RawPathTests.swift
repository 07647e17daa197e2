// Paths as bytes: a name that is not UTF-8 is hashed as the bytes it is (it used to become
// U+FFFD and "No such file"), and names that are UTF-8 hash exactly as they always did.

import Crypto
import Foundation
@testable import Invariance
import Testing

@Suite struct RawPathTests {
    /// A folder named `name` (bytes, made with mkdir(2)) in a scratch folder named in UTF-8.
    func folder(named name: [UInt8]) throws -> (scratch: URL, folder: RawPath) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("raw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let folder = RawPath(scratch.path).appending(RawPath(bytes: name))
        #expect(folder.withCString { mkdir($0, 0o755) } == 0)
        return (scratch, folder)
    }

    func writeFile(_ text: String, to path: RawPath) {
        let descriptor = path.withCString { open($0, O_WRONLY | O_CREAT | O_EXCL, 0o644) }
        #expect(descriptor >= 0)
        _ = text.utf8CString.dropLast().withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        fchmod(descriptor, 0o644)
        close(descriptor)
    }

    func sha(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() }

    @Test func aFolderAndAFileNotNamedInUTF8AreHashedAsTheirBytes() throws {
        let (scratch, root) = try folder(named: Array("proj".utf8) + [0xFF])
        let (otherScratch, other) = try folder(named: Array("proj".utf8) + [0xFF])
        defer { try? FileManager.default.removeItem(at: scratch); try? FileManager.default.removeItem(at: otherScratch) }
        let sub = root.appending(RawPath(bytes: Array("sub".utf8) + [0xFE]))
        #expect(sub.withCString { mkdir($0, 0o755) } == 0)
        writeFile("x\n", to: sub.appending(RawPath("f")))
        let expected = Array(InvarianceHash.formatHeader.utf8)
            + Array("d 0755 sub".utf8) + [0xFE] + Array("\n".utf8)
            + Array("f 0644 sub".utf8) + [0xFE] + Array("/f \(sha(Array("x\n".utf8)))\n".utf8)
        #expect(try InvarianceHash.compute(inputs: [RawPath(".")], root: root) == sha(expected))
        // Another byte is another name: no two names that are not UTF-8 collide.
        let otherSub = other.appending(RawPath(bytes: Array("sub".utf8) + [0xFD]))
        #expect(otherSub.withCString { mkdir($0, 0o755) } == 0)
        writeFile("x\n", to: otherSub.appending(RawPath("f")))
        #expect(try InvarianceHash.compute(inputs: [RawPath(".")], root: other) != InvarianceHash.compute(inputs: [RawPath(".")], root: root))
    }

    /// The tree whose hash the String-based implementation gave (before paths were bytes).
    @Test func utf8NamesHashAsTheyAlwaysDid() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("golden-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for folder in ["src/deep", "empty"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        for (name, text, mode) in [("Containerfile", "FROM scratch\n", 0o644), ("VERSION", "1.0\n", 0o700), ("src/a.txt", "a", 0o644),
                                   ("src/deep/b c.txt", "b", 0o644), ("new\nline", "n", 0o644), ("é.txt", "é", 0o644)] {
            try text.write(to: root.appendingPathComponent(name), atomically: false, encoding: .utf8)
            chmod(root.appendingPathComponent(name).path, mode_t(mode))
        }
        for folder in ["src", "src/deep", "empty"] { chmod(root.appendingPathComponent(folder).path, 0o755) }
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("link").path, withDestinationPath: "VERSION")
        #expect(try InvarianceHash.compute(inputs: ["."], root: root) == "f369da244315607157528918997402d5e45dbdbaebd8caf8ac573d80abb3d3b7")
        #expect(try InvarianceHash.compute(inputs: ["VERSION", "src"], root: root) == "d7c2b275711b46a68fe5e24396ce423261817815f0f11b8e5aeb80f3d59373a5")
    }

    @Test(arguments: [("/a/./b/../c", "/a/c"), ("/..", "/"), ("/a//b/", "/a/b"), ("a/../../b", "../b"), ("", "."), ("./.", "."), ("/", "/")])
    func standardizedLikeURL(path: String, expected: String) {
        #expect(RawPath(path).standardized == RawPath(expected))
    }
}
