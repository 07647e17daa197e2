// bootc's kernel arguments shipped in the image: /usr/lib/bootc/kargs.d/*.toml, each with
// `kargs = ["arg", ...]` and optionally `match-architectures = ["x86_64", ...]`, read in name
// order (as `bootc install` does). The direct installer adds them to the kernel command line.

import BootcCore
import Foundation

public enum BootcKernelArguments {
    static let folder = "/usr/lib/bootc/kargs.d"

    /// The arguments the image's kargs.d files give on `architecture`.
    public static func arguments(root: URL, architecture: Architecture) -> [String] {
        guard let tree = try? ImageTree(root: root.path) else { return [] }
        var result: [String] = []
        for name in tree.children(folder) where name.hasSuffix(".toml") {
            let path = folder + "/" + name
            guard let entry = tree.entry(path), entry.kind == .file, entry.size <= 64 << 10, let fd = tree.openFile(path) else { continue }
            var buffer = [UInt8](repeating: 0, count: Int(entry.size))
            let count = read(fd, &buffer, buffer.count)
            close(fd)
            guard count > 0 else { continue }
            let text = String(decoding: buffer[..<count], as: UTF8.self)
            if let arches = stringArray("match-architectures", in: text), !arches.contains(architecture.rawValue) { continue }
            result += (stringArray("kargs", in: text) ?? []).filter(KernelArgument.isValid)
        }
        return result
    }

    /// The strings of `key = [ "a", 'b', ... ]` (the array may span lines), nil when absent.
    static func stringArray(_ key: String, in text: String) -> [String]? {
        let pattern = "(?m)^\\s*\(NSRegularExpression.escapedPattern(for: key))\\s*=\\s*\\[([^\\]]*)\\]"
        guard let match = text.range(of: pattern, options: .regularExpression) else { return nil }
        let body = text[match].drop { $0 != "[" }.dropFirst().dropLast()
        var values: [String] = []
        var current: String?
        var quote: Character = "\""
        var escaped = false
        for character in body {
            if var value = current {
                if escaped { value.append(character); escaped = false; current = value; continue }
                if character == "\\" && quote == "\"" { escaped = true; continue }
                if character == quote { values.append(value); current = nil; continue }
                value.append(character)
                current = value
            } else if character == "\"" || character == "'" {
                quote = character
                current = ""
            } else if character == "#" {
                break  // a comment ends what this simple reader takes
            }
        }
        return values
    }

}
