"""Write the shapes detection set (COCO format) that the YOLOX shapes configs read.

Rectangles, circles and triangles on noisy backgrounds, drawn with numpy and PIL;
nothing is downloaded, and the same arguments give the same files (a few seconds).

Example::

    python tools/make_shapes_coco.py data/shapes_coco
    python tools/train.py configs/dms/yolox/dms_yolox-tiny_search_shapes.py
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dms_mm.datasets.shapes_coco import SHAPES_CLASSES, generate_shapes_coco  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Generate the shapes detection set (COCO '
                                     'format)')
    parser.add_argument('out_dir', nargs='?', default='data/shapes_coco',
                        help='dataset root (default: data/shapes_coco, where the shapes '
                        'configs look)')
    parser.add_argument('--num-train', type=int, default=512, help='train images (512)')
    parser.add_argument('--num-val', type=int, default=128, help='val images (128)')
    parser.add_argument('--image-size', type=int, default=128, help='image side (128)')
    parser.add_argument('--max-objects', type=int, default=4, help='shapes per image, at '
                        'most (4)')
    parser.add_argument('--seed', type=int, default=0, help='generator seed (0)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        written = generate_shapes_coco(args.out_dir, num_train=args.num_train,
                                       num_val=args.num_val, image_size=args.image_size,
                                       seed=args.seed, max_objects=args.max_objects)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    for split, ann_file in written.items():
        sys.stdout.write(f'{split}: {ann_file}\n')
    sys.stdout.write(f'classes: {", ".join(SHAPES_CLASSES)}\n')


if __name__ == '__main__':
    main()
