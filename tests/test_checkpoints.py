"""Tiny test checkpoints and the LLaMA 3 tiktoken loader, against real LLaMA tokenizers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from llamatasks.testing.checkpoints import (
    FIXTURE_TOKENIZERS_ENV,
    TINY_KINDS,
    build_tiny_checkpoint,
    find_fixture_tokenizers,
)
from llamatasks.tokenization.llama3_tiktoken import (
    LLAMA3_PRETOKENIZE_PATTERN,
    is_tiktoken_ranks_file,
    llama3_special_tokens,
    load_llama3_tiktoken,
    read_tiktoken_ranks,
)

if TYPE_CHECKING:
    from tiktoken import Encoding
    from transformers import PreTrainedTokenizerBase

    TokenizerOf = Callable[[str], PreTrainedTokenizerBase]

pytest.importorskip("torch", reason="needs the torch extra")
pytest.importorskip("transformers", reason="needs the torch extra")

SAMPLE = "Tim Cook visited Paris. 東京 café 🎉"
# Texts that stress the pre-tokenizer: contractions, digit groups, runs of
# spaces and newlines, code, and scripts without spaces.
TRICKY_TEXTS = (
    SAMPLE,
    "I'M sure they'LL say don't",
    "1234567 + 89 = 1234656",
    "  two leading spaces,\n\n\ttab and   runs   \n",
    "def f(x):\n    return x**2  # square\n",
    "Ünïcödé — “quotes” ‘and’ … 日本語の文章です。한국어 😀👍🏽",
)

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there"},
]

# What each family's official template renders for CONVERSATION (with the
# generation prompt where the template has one).
EXPECTED_CHAT = {
    "llama2-chat": "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST]",
    "llama3-instruct": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "llama3.1-instruct": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    # Meta's 3.2 template renders this conversation exactly as 3.1's does.
    "llama3.2-instruct": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    # Llama 3.3 ships 3.1's template unchanged.
    "llama3.3-instruct": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "chatml": (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
    ),
    "zephyr": "<|system|>\nBe brief.</s>\n<|user|>\nHi there</s>\n<|assistant|>\n",
}
TEMPLATES_WITH_BOS = ("llama2-chat", "llama3-instruct", "llama3.1-instruct", "llama3.2-instruct", "llama3.3-instruct")

EXPECTED_EOS = {
    "llama1": 2,
    "llama2-chat": 2,
    "llama3-instruct": [128001, 128009],
    "llama3.1-instruct": [128001, 128008, 128009],
    "llama3.2-instruct": [128001, 128008, 128009],
    "llama3.3-instruct": [128001, 128008, 128009],
    "chatml": 32001,
    "zephyr": 2,
}


# -- helpers and fixtures -------------------------------------------------------


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    """Load a checkpoint's tokenizer the way llamatasks must: tiktoken ranks by our loader."""
    from transformers import AutoTokenizer

    model_file = path / "tokenizer.model"
    if not (path / "tokenizer.json").exists() and is_tiktoken_ranks_file(model_file):
        config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
        return load_llama3_tiktoken(model_file, chat_template=config.get("chat_template"))
    return AutoTokenizer.from_pretrained(path)


def read_json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def tokenizer_of(tiny_checkpoint: Callable[[str], Path]) -> TokenizerOf:
    """Return ``get(kind)`` -> the kind's tokenizer, loaded once per module (LLaMA 3 ones take seconds)."""
    loaded: dict[str, PreTrainedTokenizerBase] = {}

    def get(kind: str) -> PreTrainedTokenizerBase:
        if kind not in loaded:
            loaded[kind] = load_tokenizer(tiny_checkpoint(kind))
        return loaded[kind]

    return get


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run tiny models on one thread.

    On a busy 2-core machine torch's second thread spin-waits and makes a
    10-token generate ~15x slower.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def llama3_ranks_path(fixture_tokenizers: Path) -> Path:
    return fixture_tokenizers / "llama-3" / "tokenizer.model"


@pytest.fixture(scope="module")
def llama3_tokenizer(llama3_ranks_path: Path) -> PreTrainedTokenizerBase:
    """The LLaMA 3 base tokenizer (no chat template)."""
    return load_llama3_tiktoken(llama3_ranks_path)


@pytest.fixture(scope="module")
def tiktoken_reference(llama3_ranks_path: Path) -> Encoding:
    """Meta's own implementation: a ``tiktoken.Encoding`` over the same ranks."""
    tiktoken = pytest.importorskip("tiktoken")
    return tiktoken.Encoding(
        name="llama3",
        pat_str=LLAMA3_PRETOKENIZE_PATTERN,
        mergeable_ranks=read_tiktoken_ranks(llama3_ranks_path),
        special_tokens=llama3_special_tokens(),
    )


# -- checkpoints ----------------------------------------------------------------


@pytest.mark.parametrize("kind", TINY_KINDS)
@pytest.mark.usefixtures("one_torch_thread")
def test_checkpoint_loads_from_safetensors(kind: str, tiny_checkpoint: Callable[[str], Path]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    path = tiny_checkpoint(kind)
    assert (path / "model.safetensors").is_file()
    assert not list(path.glob("*.bin")), "weights must be safetensors only"
    model = AutoModelForCausalLM.from_pretrained(path)
    assert isinstance(model, LlamaForCausalLM)
    config = model.config
    assert (config.hidden_size, config.num_hidden_layers) == (64, 2)
    kv_heads = 4 if kind == "llama1" else 2  # LLaMA 1 predates grouped-query attention
    assert (config.num_attention_heads, config.num_key_value_heads) == (4, kv_heads)
    assert model.model.embed_tokens.num_embeddings == config.vocab_size
    assert model.lm_head.out_features == config.vocab_size
    with torch.no_grad():
        logits = model(torch.tensor([[config.bos_token_id, 100, 200]])).logits
    assert logits.shape == (1, 3, config.vocab_size)


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_tokenizer_matches_config(kind: str, tiny_checkpoint: Callable[[str], Path], tokenizer_of: TokenizerOf) -> None:
    path = tiny_checkpoint(kind)
    config = read_json(path / "config.json")
    tokenizer = tokenizer_of(kind)
    assert len(tokenizer) == config["vocab_size"]
    assert tokenizer.bos_token_id == config["bos_token_id"]
    eos_ids = EXPECTED_EOS[kind]
    assert read_json(path / "generation_config.json")["eos_token_id"] == eos_ids
    assert tokenizer.eos_token_id in (eos_ids if isinstance(eos_ids, list) else [eos_ids])


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_tokenizer_round_trips_text(kind: str, tokenizer_of: TokenizerOf) -> None:
    tokenizer = tokenizer_of(kind)
    ids = tokenizer(SAMPLE, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == SAMPLE


def test_tokenizer_layouts(tiny_checkpoints: dict[str, Path]) -> None:
    files = {kind: {p.name for p in path.iterdir()} for kind, path in tiny_checkpoints.items()}
    for kind in ("llama1", "llama2-chat", "zephyr", "llama3-instruct"):
        assert "tokenizer.model" in files[kind] and "tokenizer.json" not in files[kind], kind
    for kind in ("llama3.1-instruct", "llama3.2-instruct", "llama3.3-instruct", "chatml"):
        assert "tokenizer.json" in files[kind] and "tokenizer.model" not in files[kind], kind
    assert is_tiktoken_ranks_file(tiny_checkpoints["llama3-instruct"] / "tokenizer.model")
    assert not is_tiktoken_ranks_file(tiny_checkpoints["llama2-chat"] / "tokenizer.model")


@pytest.mark.parametrize("kind", sorted(EXPECTED_CHAT))
def test_chat_template_renders_official_format(kind: str, tokenizer_of: TokenizerOf) -> None:
    tokenizer = tokenizer_of(kind)
    # Llama 2's template has no generation prompt: the prompt ends at [/INST].
    rendered = tokenizer.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    assert rendered == EXPECTED_CHAT[kind]


@pytest.mark.parametrize("kind", TEMPLATES_WITH_BOS)
def test_template_rendering_bos_yields_one_bos(kind: str, tokenizer_of: TokenizerOf) -> None:
    """A rendered template that carries BOS must be encoded without adding another."""
    tokenizer = tokenizer_of(kind)
    rendered = str(tokenizer.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True))
    ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert ids.count(tokenizer.bos_token_id) == 1


def test_base_model_has_no_chat_template(tiny_checkpoint: Callable[[str], Path], tokenizer_of: TokenizerOf) -> None:
    assert "chat_template" not in read_json(tiny_checkpoint("llama1") / "tokenizer_config.json")
    assert not tokenizer_of("llama1").chat_template


def test_chatml_adds_default_system_turn(tokenizer_of: TokenizerOf) -> None:
    rendered = str(tokenizer_of("chatml").apply_chat_template(CONVERSATION[1:], tokenize=False))
    assert rendered.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")


def test_bos_policy_mirrors_real_tokenizers(
    tokenizer_of: TokenizerOf, llama3_tokenizer: PreTrainedTokenizerBase
) -> None:
    """SentencePiece LLaMA and Meta's Llama 3.1 tokenizer.json add BOS; ChatML and our loader do not."""
    assert tokenizer_of("llama2-chat")("hi")["input_ids"][0] == 1
    assert tokenizer_of("llama3.1-instruct")("hi")["input_ids"][0] == 128000
    assert 32000 not in tokenizer_of("chatml")("hi")["input_ids"]
    assert 128000 not in llama3_tokenizer("hi")["input_ids"]


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_rope_settings(kind: str, tiny_checkpoint: Callable[[str], Path]) -> None:
    from transformers import AutoConfig

    raw = read_json(tiny_checkpoint(kind) / "config.json")
    theta = 500_000.0 if kind.startswith("llama3") else 10_000.0
    assert raw["rope_theta"] == theta  # the key pre-5.x readers look for
    parameters = AutoConfig.from_pretrained(tiny_checkpoint(kind)).rope_parameters
    assert parameters["rope_theta"] == theta
    if kind in ("llama3.1-instruct", "llama3.2-instruct", "llama3.3-instruct"):
        assert raw["rope_scaling"]["rope_type"] == parameters["rope_type"] == "llama3"
        assert parameters["factor"] == raw["rope_scaling"]["factor"] == (32.0 if kind == "llama3.2-instruct" else 8.0)
        assert parameters["original_max_position_embeddings"] < raw["max_position_embeddings"]
    else:
        assert parameters["rope_type"] == "default"


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_only_llama32_ties_its_embeddings(kind: str, tiny_checkpoint: Callable[[str], Path]) -> None:
    """LLaMA 3.2 1B/3B store one matrix for input embedding and output projection; the others two."""
    from safetensors import safe_open

    tied = kind == "llama3.2-instruct"
    assert read_json(tiny_checkpoint(kind) / "config.json")["tie_word_embeddings"] is tied
    with safe_open(tiny_checkpoint(kind) / "model.safetensors", "np") as weights:
        names = set(weights.keys())
    assert ("lm_head.weight" in names) is not tied


# llama1, llama2-chat and zephyr share shapes and seed, hence weights; llama3
# and 3.1 differ only in rope scaling: one of each family covers the weights.
@pytest.mark.parametrize("kind", ["llama2-chat", "llama3.1-instruct", "chatml"])
@pytest.mark.usefixtures("one_torch_thread")
def test_greedy_batched_left_padded_matches_one_by_one(
    kind: str, tiny_checkpoint: Callable[[str], Path], tokenizer_of: TokenizerOf
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint(kind)).eval()
    tokenizer = tokenizer_of(kind)
    prompts = [SAMPLE, "a", "Summarize: the quick brown fox jumps over the lazy dog, twice."]
    rows = [[model.config.bos_token_id, *tokenizer(p, add_special_tokens=False)["input_ids"]] for p in prompts]
    # min_new_tokens = max_new_tokens: every row gets the same length, EOS or not.
    settings = {"do_sample": False, "max_new_tokens": 10, "min_new_tokens": 10, "pad_token_id": 0}
    with torch.no_grad():
        one_by_one = [model.generate(torch.tensor([row]), **settings)[0, len(row) :].tolist() for row in rows]
        width = max(len(row) for row in rows)
        padded = torch.tensor([[0] * (width - len(row)) + row for row in rows])
        mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows])
        batched = model.generate(padded, attention_mask=mask, **settings)[:, width:].tolist()
    assert batched == one_by_one
    assert len({tuple(tokens) for tokens in one_by_one}) == len(prompts), "continuations should depend on the prompt"


def test_llama33_folder_names_its_release_in_its_license(tiny_checkpoint: Callable[[str], Path]) -> None:
    """Meta's Llama 3.3 folder differs from 3.1's only in its LICENSE (and weights)."""
    llama31, llama33 = tiny_checkpoint("llama3.1-instruct"), tiny_checkpoint("llama3.3-instruct")
    for name in ("config.json", "generation_config.json", "tokenizer_config.json"):
        assert read_json(llama33 / name) == read_json(llama31 / name), name
    assert (llama33 / "LICENSE").read_text(encoding="utf-8").startswith("LLAMA 3.3 COMMUNITY LICENSE AGREEMENT\n")
    assert not (llama31 / "LICENSE").exists()


def test_build_is_deterministic_and_keeps_rng(fixture_tokenizers: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    state = torch.random.get_rng_state()
    first = build_tiny_checkpoint("llama1", tmp_path / "a", tokenizers_dir=fixture_tokenizers, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = build_tiny_checkpoint("llama1", tmp_path / "b", tokenizers_dir=fixture_tokenizers, seed=3)
    other = build_tiny_checkpoint("llama1", tmp_path / "c", tokenizers_dir=fixture_tokenizers, seed=4)
    weights = [load_file(path / "model.safetensors") for path in (first, second, other)]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    assert not torch.equal(weights[0]["lm_head.weight"], weights[2]["lm_head.weight"])


def test_build_honours_max_position_embeddings(fixture_tokenizers: Path, tmp_path: Path) -> None:
    path = build_tiny_checkpoint("llama2-chat", tmp_path, tokenizers_dir=fixture_tokenizers, max_position_embeddings=64)
    assert read_json(path / "config.json")["max_position_embeddings"] == 64
    assert read_json(path / "tokenizer_config.json")["model_max_length"] == 64


def test_build_rejects_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown tiny checkpoint kind"):
        build_tiny_checkpoint("llama9", tmp_path, tokenizers_dir=tmp_path)


# -- locating the fixtures ------------------------------------------------------


def _fake_fixture_tree(root: Path) -> Path:
    """Create the two marker files (empty) that identify a fixtures folder."""
    folder = root / "shared" / "fixtures" / "tokenizers"
    for family in ("llama-1-2", "llama-3"):
        (folder / family).mkdir(parents=True)
        (folder / family / "tokenizer.model").touch()
    return folder


def test_find_fixture_tokenizers_beside_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _fake_fixture_tree(tmp_path)
    checkout = tmp_path / "checkout" / "tests"
    checkout.mkdir(parents=True)
    monkeypatch.delenv(FIXTURE_TOKENIZERS_ENV, raising=False)
    monkeypatch.chdir(checkout)
    assert find_fixture_tokenizers() == expected.resolve()


def test_find_fixture_tokenizers_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _fake_fixture_tree(tmp_path)
    monkeypatch.setenv(FIXTURE_TOKENIZERS_ENV, str(expected))
    assert find_fixture_tokenizers() == expected.resolve()
    monkeypatch.setenv(FIXTURE_TOKENIZERS_ENV, str(tmp_path / "missing"))
    assert find_fixture_tokenizers() is None


# -- the LLaMA 3 tiktoken loader ------------------------------------------------


def test_is_tiktoken_ranks_file(fixture_tokenizers: Path, tmp_path: Path) -> None:
    assert is_tiktoken_ranks_file(fixture_tokenizers / "llama-3" / "tokenizer.model")
    assert not is_tiktoken_ranks_file(fixture_tokenizers / "llama-1-2" / "tokenizer.model")
    assert not is_tiktoken_ranks_file(tmp_path / "missing.model")
    small = tmp_path / "small.model"
    small.write_bytes(b"YQ== 0\nYg== 1\nYWI= 2\n")
    assert is_tiktoken_ranks_file(small)
    for name, content in {"empty": b"", "json": b'{"a": 1}\n', "text": b"hello world\n"}.items():
        other = tmp_path / name
        other.write_bytes(content)
        assert not is_tiktoken_ranks_file(other), name


def test_loader_adds_no_bos(llama3_tokenizer: PreTrainedTokenizerBase) -> None:
    plain = llama3_tokenizer("hi", add_special_tokens=False)["input_ids"]
    assert llama3_tokenizer("hi")["input_ids"] == plain
    assert all(i < 128000 for i in plain)


def test_loader_special_token_ids(llama3_tokenizer: PreTrainedTokenizerBase) -> None:
    expected = {
        "<|begin_of_text|>": 128000,
        "<|end_of_text|>": 128001,
        "<|reserved_special_token_0|>": 128002,
        "<|reserved_special_token_1|>": 128003,
        "<|finetune_right_pad_id|>": 128004,
        "<|reserved_special_token_2|>": 128005,
        "<|start_header_id|>": 128006,
        "<|end_header_id|>": 128007,
        "<|eom_id|>": 128008,
        "<|eot_id|>": 128009,
        "<|python_tag|>": 128010,
        "<|reserved_special_token_3|>": 128011,
        "<|reserved_special_token_247|>": 128255,
    }
    assert {token: llama3_tokenizer.convert_tokens_to_ids(token) for token in expected} == expected
    assert len(llama3_tokenizer) == 128256
    assert (llama3_tokenizer.bos_token, llama3_tokenizer.eos_token) == ("<|begin_of_text|>", "<|end_of_text|>")


def test_loader_splits_special_tokens_on_request(llama3_tokenizer: PreTrainedTokenizerBase) -> None:
    as_special = llama3_tokenizer("<|eot_id|>", add_special_tokens=False)["input_ids"]
    as_text = llama3_tokenizer("<|eot_id|>", add_special_tokens=False, split_special_tokens=True)["input_ids"]
    assert as_special == [128009]
    assert len(as_text) > 1 and all(i < 128000 for i in as_text)
    assert llama3_tokenizer.decode(as_text) == "<|eot_id|>"


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_loader_matches_tiktoken_and_round_trips(
    text: str, llama3_tokenizer: PreTrainedTokenizerBase, tiktoken_reference: Encoding
) -> None:
    ids = llama3_tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    assert ids == tiktoken_reference.encode(text, disallowed_special=())
    assert llama3_tokenizer.decode(ids) == text


def test_loader_matches_tiktoken_on_special_tokens(
    llama3_tokenizer: PreTrainedTokenizerBase, tiktoken_reference: Encoding
) -> None:
    text = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
    ids = llama3_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids == tiktoken_reference.encode(text, allowed_special="all")


def test_loader_with_chat_template(tiny_checkpoint: Callable[[str], Path], tokenizer_of: TokenizerOf) -> None:
    template = read_json(tiny_checkpoint("llama3-instruct") / "tokenizer_config.json")["chat_template"]
    tokenizer = tokenizer_of("llama3-instruct")  # load_llama3_tiktoken(..., chat_template=template)
    assert tokenizer.eos_token == "<|eot_id|>" and tokenizer.eos_token_id == 128009
    assert tokenizer.chat_template == template


def test_loader_custom_special_tokens_keep_their_ids(llama3_ranks_path: Path) -> None:
    tokenizer = load_llama3_tiktoken(
        llama3_ranks_path, special_tokens={"<|begin_of_text|>": 128000, "<|eot_id|>": 128009}
    )
    assert tokenizer.convert_tokens_to_ids("<|eot_id|>") == 128009
    assert len(tokenizer) == 128010  # the gap is held by placeholders
    assert tokenizer.eos_token is None  # no <|end_of_text|> given, no template


@pytest.mark.parametrize(
    ("special_tokens", "message"),
    [({"<|x|>": 5}, "inside the 128000 BPE ranks"), ({"<|a|>": 128000, "<|b|>": 128000}, "share id")],
)
def test_loader_rejects_bad_special_tokens(llama3_ranks_path: Path, special_tokens: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_llama3_tiktoken(llama3_ranks_path, special_tokens=special_tokens)


def test_read_tiktoken_ranks_rejects_bad_files(tmp_path: Path) -> None:
    malformed = tmp_path / "malformed.model"
    malformed.write_bytes(b"YQ== 0\nnot base64!! 1\n")
    with pytest.raises(ValueError, match=r"malformed\.model:2"):
        read_tiktoken_ranks(malformed)
    sparse = tmp_path / "sparse.model"
    sparse.write_bytes(b"YQ== 0\nYg== 5\n")
    with pytest.raises(ValueError, match="dense"):
        read_tiktoken_ranks(sparse)


def test_importing_stays_cheap() -> None:
    code = (
        "import sys, llamatasks.tokenization.llama3_tiktoken, llamatasks.testing.checkpoints; "
        "heavy = {'torch', 'transformers', 'tokenizers'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
