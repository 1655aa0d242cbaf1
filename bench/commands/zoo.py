"""`bench zoo ...`: train models, inspect codes."""

from __future__ import annotations

import argparse
from bench.commands import DATA_DIR_HELP, positive_int



def cmd_zoo_train(args: argparse.Namespace) -> int:
    from bench import zoo
    from bench.device import configure_threads, resolve_device
    from bench.train import train_model

    configure_threads()
    device = resolve_device(args.device)
    card = zoo.get_card(args.model)
    result = train_model(card, device=str(device), data_dir=args.data_dir, max_epochs=args.epochs_now)
    if result.get("finished"):
        print(f"{card.id}: trained, clean accuracy {result.get('clean_accuracy', float('nan')):.4f}, "
              f"{result['wall_time_s'] / 60:.1f} min; checkpoint {card.checkpoint_path}")
    else:
        print(f"{card.id}: paused after {result['epochs_done']} epochs; run again to resume")

    return 0


def cmd_zoo_codes(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from bench import zoo
    from bench.models.codes import min_hamming_distance, plotkin_bound
    from bench.zoo.registry import build

    rows = []
    for mid, card in zoo.all_cards().items():
        model = build(card)
        if not hasattr(model, "code"):
            continue
        if card.checkpoint_path.is_file() and card.sha256:
            model = zoo.registry.load_from_card(card)
        code = model.code().detach().numpy()
        m = model.num_classes
        rows.append([mid, f"{code.shape[0]}x{code.shape[1]}", m, min_hamming_distance(code, m), plotkin_bound(m, code.shape[1])])
    print(tabulate(rows, headers=["model", "code (rows x bits)", "classes", "min Hamming d (class rows)", "Plotkin bound"]))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    z = sub.add_parser("zoo", help="model zoo: train, codes, ...")
    zsub = z.add_subparsers(dest="zoo_command", required=True)
    zt = zsub.add_parser("train", help="train a zoo model from its card's recipe (resumable)")
    zt.add_argument("model")
    zt.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    zt.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    zt.add_argument("--epochs-now", type=positive_int, default=None, help="stop after this many epochs (resume later)")
    zt.set_defaults(func=cmd_zoo_train)
    zc = zsub.add_parser("codes", help="code matrices: size, minimum Hamming distance, Plotkin bound")
    zc.set_defaults(func=cmd_zoo_codes)
    from bench.commands import modules

    for module in modules():
        if hasattr(module, "register_zoo"):
            module.register_zoo(zsub)
