from .digits import DIGITS_CLASSES, DigitsDataset
from .glyphs import GLYPH_CLASSES, GlyphsDataset, generate_glyphs, load_glyphs
from .shakespeare import ShakespeareDataset, load_shakespeare
from .shapes_coco import SHAPES_CLASSES, generate_shapes_coco, shapes_ann_file
from .text_file import TextFileDataset
from .token_windows import TokenWindowsDataset

__all__ = ['DIGITS_CLASSES', 'DigitsDataset', 'GLYPH_CLASSES', 'GlyphsDataset',
           'generate_glyphs', 'load_glyphs', 'SHAPES_CLASSES', 'generate_shapes_coco',
           'shapes_ann_file', 'ShakespeareDataset', 'load_shakespeare', 'TextFileDataset',
           'TokenWindowsDataset']
