// Reading images.yml and layer.yml through Yams' node tree, so every problem can name the
// file and line it comes from.

import Foundation
import Yams

/// One problem in a project: where it is and what to do. Validation collects them all.
public struct LayerProblem: Error, Sendable, Equatable, CustomStringConvertible, Comparable {
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)" }

    public static func < (a: LayerProblem, b: LayerProblem) -> Bool {
        (a.file, a.line ?? 0, a.message) < (b.file, b.line ?? 0, b.message)
    }
}

/// A YAML node with the file it came from.
struct YAMLValue {
    let node: Node
    let file: String

    var line: Int? { node.mark.map { $0.line } }

    func problem(_ message: String) -> LayerProblem { LayerProblem(file: file, line: line, message: message) }

    /// Parses `text`; nil for an empty document.
    static func load(file: String, text: String) throws(LayerProblem) -> YAMLValue? {
        if let line = YAMLAliases.firstLine(in: text) {
            // Yams compares mapping keys by value: an alias bomb (aliases of aliases) takes
            // exponential time before we see a single node.
            throw LayerProblem(file: file, line: line, message: "YAML aliases (*name) are not supported here; write the value out where the alias stands")
        }
        do {
            guard let node = try Yams.compose(yaml: text) else { return nil }
            return YAMLValue(node: node, file: file)
        } catch let error as YamlError {
            throw LayerProblem(file: file, line: Self.line(of: error), message: "not valid YAML: \(Self.summary(of: error))")
        } catch {
            throw LayerProblem(file: file, line: nil, message: "not valid YAML: \(error)")
        }
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    private static func summary(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _), .composer(let context, let problem, _, _):
            return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ", ")
        default:
            return "\(error)"
        }
    }

    /// A mapping's entries in file order; anything else is a problem.
    func mapping(_ what: String) throws(LayerProblem) -> [(key: String, value: YAMLValue)] {
        guard case .mapping(let mapping) = node else { throw problem("\(what) must be a mapping (key: value lines)") }
        var entries: [(key: String, value: YAMLValue)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else { throw YAMLValue(node: key, file: file).problem("\(what) keys must be plain names") }
            entries.append((scalar.string, YAMLValue(node: value, file: file)))
        }
        return entries
    }

    func string(_ what: String) throws(LayerProblem) -> String {
        guard case .scalar(let scalar) = node else { throw problem("\(what) must be a single value") }
        return scalar.string
    }

    func int(_ what: String) throws(LayerProblem) -> Int {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string) else { throw problem("\(what) must be a whole number") }
        return value
    }

    func bool(_ what: String) throws(LayerProblem) -> Bool {
        guard case .scalar(let scalar) = node else { throw problem("\(what) must be true or false") }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw problem("\(what) must be true or false, not \(scalar.string.debugDescription)")
        }
    }

    func strings(_ what: String) throws(LayerProblem) -> [String] {
        guard case .sequence(let sequence) = node else { throw problem("\(what) must be a list") }
        var values: [String] = []
        for item in sequence {
            guard case .scalar(let scalar) = item else { throw YAMLValue(node: item, file: file).problem("\(what) entries must be single values") }
            values.append(scalar.string)
        }
        return values
    }

    func items(_ what: String) throws(LayerProblem) -> [YAMLValue] {
        guard case .sequence(let sequence) = node else { throw problem("\(what) must be a list") }
        return sequence.map { YAMLValue(node: $0, file: file) }
    }
}

/// Collects problems instead of stopping at the first, so one run reports them all.
struct ProblemCollector {
    var problems: [LayerProblem] = []

    /// Runs `body`; a problem it throws is recorded and nil returned.
    mutating func attempt<T>(_ body: () throws(LayerProblem) -> T) -> T? {
        do { return try body() } catch { problems.append(error); return nil }
    }

    mutating func add(_ problem: LayerProblem) { problems.append(problem) }

    /// A mapping's entries, or none (with the problem recorded) when it is not a mapping.
    mutating func entries(_ value: YAMLValue, _ what: String) -> [(key: String, value: YAMLValue)] {
        attempt { () throws(LayerProblem) in try value.mapping(what) } ?? []
    }
}
