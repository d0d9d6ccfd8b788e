"""Characters to token ids and back, as microgpt does it: every character seen in the
documents, sorted, becomes an id 0..n-1, and one more id, BOS, marks where a document begins
(and, read as the next token, where it ends)."""

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """uchars: the vocabulary's characters in id order. BOS = len(uchars)."""

    def __init__(self, uchars):
        uchars = list(uchars)
        if not uchars or any(not isinstance(c, str) or len(c) != 1 for c in uchars):
            raise ValueError("a vocabulary is a non-empty list of single characters")
        if len(set(uchars)) != len(uchars):
            raise ValueError("a vocabulary lists every character once")
        self.uchars = uchars
        self.BOS = len(uchars)
        self.vocab_size = len(uchars) + 1
        self._ids = {c: i for i, c in enumerate(uchars)}

    @classmethod
    def from_documents(cls, docs):
        return cls(sorted(set("".join(docs))))

    def ids(self, text):
        """The ids of text's characters (no BOS); a character outside the vocabulary is an
        error naming it."""
        try:
            return [self._ids[ch] for ch in text]
        except KeyError as e:
            raise ValueError(f"the character {e.args[0]!r} is not in the model's vocabulary "
                             f"({''.join(self.uchars)!r})") from None

    def encode(self, doc):
        """[BOS, ids of doc's characters..., BOS]: the document with its two boundaries."""
        return [self.BOS] + self.ids(doc) + [self.BOS]

    def decode(self, ids):
        return "".join(self.uchars[i] for i in ids if i != self.BOS)

    def __repr__(self):
        return f"CharTokenizer({len(self.uchars)} characters + BOS)"
