from smetslab.entry import main

main()
