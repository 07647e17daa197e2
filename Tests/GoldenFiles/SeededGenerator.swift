// A deterministic random generator (splitmix64) for property and fuzz tests: a failing case
// can be reproduced from its seed.

public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SeededGenerator {
    /// `text` with `edits` random edits: a piece inserted or a character removed at random
    /// places (the mutations fuzz tests apply to seed files).
    public mutating func mutate(_ text: String, pieces: [String], edits: ClosedRange<Int>) -> String {
        var characters = Array(text)
        for _ in 0..<Int.random(in: edits, using: &self) {
            let at = Int.random(in: 0...characters.count, using: &self)
            if Bool.random(using: &self) || at == characters.count {
                characters.insert(contentsOf: pieces.randomElement(using: &self)!, at: at)
            } else {
                characters.remove(at: at)
            }
        }
        return String(characters)
    }
}
