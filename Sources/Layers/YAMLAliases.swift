// Where a YAML text uses an alias (`*name`), as libyaml itself reads it: the same parser Yams
// composes with, so tabs, CRLF line ends, flow collections, quotes, comments and block
// scalars are told apart exactly, not guessed from whitespace.

import Foundation
internal import CYaml

enum YAMLAliases {
    /// The 1-based line of the first alias in `text`; nil when there is none, or when the text
    /// stops being YAML before one (composing it then reports that error). Linear in the
    /// text: the events are read, never expanded.
    static func firstLine(in text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return nil }
        return bytes.withUnsafeBufferPointer { buffer -> Int? in
            // The parser lives only in this call; libyaml reads `buffer` in place.
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else { return nil }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_ALIAS_EVENT: return Int(event.start_mark.line) + 1
                case YAML_STREAM_END_EVENT: return nil
                default: continue
                }
            }
        }
    }
}
